//! API tokens (`kav-protocol.md` §1.7): the token travels in a configurable header,
//! as `Bearer <token>` or bare; a missing or wrong one is answered 401 with
//! [`www_authenticate`].
//!
//! ringscan stores only SHA-256 hashes of tokens (`sha256:<hex>` in the config), so a
//! leaked config does not leak the tokens; tokens are random 256-bit values, so a plain
//! hash without salt or stretching is enough. A presented token is hashed and compared
//! in constant time with every allowed hash.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 hash of an API token; text form `sha256:<64 lowercase hex digits>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Why a text is not a [`TokenHash`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTokenHashError;

impl fmt::Display for ParseTokenHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a token hash is written sha256:<64 hex digits>")
    }
}

impl std::error::Error for ParseTokenHashError {}

impl FromStr for TokenHash {
    type Err = ParseTokenHashError;

    /// Reads `sha256:<64 hex digits>` (hex digits in either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha256:").ok_or(ParseTokenHashError)?;
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return Err(ParseTokenHashError);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16).ok_or(ParseTokenHashError);
            let (hi, lo) = match pair {
                [hi, lo] => (digit(*hi)?, digit(*lo)?),
                _ => return Err(ParseTokenHashError),
            };
            // Two hex digits fit a byte.
            *byte = (hi * 16 + lo) as u8;
        }
        Ok(TokenHash(bytes))
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The hash of `token`, for the config.
pub fn hash_token(token: &str) -> TokenHash {
    hash_bytes(token.as_bytes())
}

/// The hash of a presented token's bytes.
fn hash_bytes(token: &[u8]) -> TokenHash {
    TokenHash(Sha256::digest(token).into())
}

/// A new random token: 32 bytes from the OS, Base64url without padding (43 characters,
/// safe in headers and config files).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes))
}

/// The token in an auth header's value. With `bearer`, the value must be
/// `Bearer <token>` (scheme case-insensitive, one or more spaces or tabs before the
/// token); otherwise the whole value is the token. Surrounding whitespace is trimmed;
/// an empty token is `None`.
pub fn extract_token(value: &[u8], bearer: bool) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let token = if bearer {
        let scheme = value.get(..6)?;
        let rest = value.get(6..)?;
        if !scheme.eq_ignore_ascii_case(b"bearer") || !matches!(rest.first(), Some(b' ' | b'\t')) {
            return None;
        }
        rest.trim_ascii_start()
    } else {
        value
    };
    (!token.is_empty()).then_some(token)
}

/// Whether `token` hashes to one of `allowed`. Every entry is compared, in constant
/// time, whatever matches, so the timing tells nothing about which entry or how much
/// of it matched.
pub fn verify(token: &[u8], allowed: &[TokenHash]) -> bool {
    let presented = hash_bytes(token);
    let mut found = subtle::Choice::from(0);
    for hash in allowed {
        found |= presented.0.ct_eq(&hash.0);
    }
    found.into()
}

/// The `WWW-Authenticate` value of a 401 answer, as the vendor writes it.
pub fn www_authenticate(bearer: bool) -> &'static str {
    if bearer {
        "Bearer realm=\"API Kaspersky Scan Engine\""
    } else {
        "Token realm=\"API Kaspersky Scan Engine\""
    }
}
