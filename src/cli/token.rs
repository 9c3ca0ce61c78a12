//! `ringscan token new`: makes an API token for the HTTP mode. The token is printed
//! once; the configuration keeps only its hash, so a leaked config file gives no
//! access.

use clap::Subcommand;

use crate::proto::kav::auth;

/// `ringscan token` subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a new random token; print it, and the line that accepts it.
    New,
}

/// Runs a token subcommand; returns the exit code.
pub fn run(command: TokenCommand) -> u8 {
    match command {
        TokenCommand::New => match auth::new_token() {
            Ok(token) => {
                let hash = auth::hash_token(&token);
                println!("token: {token}");
                println!();
                println!("Give the token to the client; it is not stored anywhere.");
                println!("Accept it with this line in [http.auth] of ringscan.toml:");
                println!();
                println!("tokens = [\"{hash}\"]");
                0
            }
            Err(e) => {
                eprintln!("ringscan: no randomness for a token: {e}");
                2
            }
        },
    }
}
