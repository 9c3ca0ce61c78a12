//! `bench-corpus`: command-line front end of the `bench_corpus` generators.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bench_corpus::{
    corpus, hash_sources_from_dir, parse_size, read_plants, signatures, CorpusConfig, SigConfig,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bench-corpus",
    about = "Deterministic ClamAV signature sets and file corpora for ringscan"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write DIR/gen.ndb, gen.hdb, gen.ldb, plants.txt and hash-hits.tsv.
    Sigs {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 10_000)]
        ndb: usize,
        #[arg(long, default_value_t = 100_000)]
        hdb: usize,
        #[arg(long, default_value_t = 100)]
        ldb: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0.3)]
        wildcard_share: f64,
        #[arg(long, default_value_t = 0.2)]
        gap_share: f64,
        #[arg(long, default_value_t = 0.05)]
        offset_share: f64,
        #[arg(long, default_value_t = 0.3)]
        nocase_share: f64,
        /// Share of ndb and ldb sigs that get a plants.txt entry.
        #[arg(long, default_value_t = 0.02)]
        plant_share: f64,
        /// Corpus directory whose files' MD5/size become .hdb hash hits.
        #[arg(long)]
        hash_from: Option<PathBuf>,
        /// Number of hash hits taken from --hash-from.
        #[arg(long, default_value_t = 50)]
        hash_hits: usize,
    },
    /// Write a mixed corpus and DIR/manifest.tsv.
    Corpus {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of files (default 2000 unless --total-bytes is given).
        #[arg(long)]
        files: Option<usize>,
        /// Stop once this many bytes were written (e.g. 200MB, 1GiB).
        #[arg(long, value_parser = parse_size)]
        total_bytes: Option<u64>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_parser = parse_size, default_value = "1KiB")]
        min: u64,
        #[arg(long, value_parser = parse_size, default_value = "4MiB")]
        max: u64,
        #[arg(long, default_value_t = 0.4)]
        text_share: f64,
        #[arg(long, default_value_t = 0.2)]
        zip_share: f64,
        /// plants.txt from `bench-corpus sigs`.
        #[arg(long)]
        plants: Option<PathBuf>,
        #[arg(long, default_value_t = 0.02)]
        plant_share: f64,
        /// Also plant inside zip members (offsets relative to the member).
        #[arg(long)]
        plant_in_zip: bool,
        #[arg(long, default_value_t = 0.01)]
        eicar_share: f64,
    },
}

fn run(cli: Cli) -> Result<(), String> {
    let t0 = Instant::now();
    match cli.cmd {
        Cmd::Sigs {
            seed,
            ndb,
            hdb,
            ldb,
            out,
            wildcard_share,
            gap_share,
            offset_share,
            nocase_share,
            plant_share,
            hash_from,
            hash_hits,
        } => {
            let hash_sources = match &hash_from {
                Some(dir) => hash_sources_from_dir(dir, hash_hits, seed)
                    .map_err(|e| format!("{}: {e}", dir.display()))?,
                None => Vec::new(),
            };
            let cfg = SigConfig {
                seed,
                ndb,
                hdb,
                ldb,
                wildcard_share,
                gap_share,
                offset_share,
                nocase_share,
                plant_share,
                hash_sources,
                ..SigConfig::default()
            };
            let set = signatures(&cfg);
            set.write_to(&out)
                .map_err(|e| format!("{}: {e}", out.display()))?;
            eprintln!(
                "wrote {ndb} ndb, {hdb} hdb ({} hash hits), {ldb} ldb, {} plant lines to {} in {:.3}s",
                set.hash_hits.len(),
                set.plants.len(),
                out.display(),
                t0.elapsed().as_secs_f64()
            );
        }
        Cmd::Corpus {
            seed,
            files,
            total_bytes,
            out,
            min,
            max,
            text_share,
            zip_share,
            plants,
            plant_share,
            plant_in_zip,
            eicar_share,
        } => {
            if min > max {
                return Err(format!("--min {min} is above --max {max}"));
            }
            let plants = match &plants {
                Some(p) => read_plants(p).map_err(|e| format!("{}: {e}", p.display()))?,
                None => Vec::new(),
            };
            let cfg = CorpusConfig {
                seed,
                files: files.or(if total_bytes.is_some() {
                    None
                } else {
                    Some(2000)
                }),
                total_bytes,
                min_size: min,
                max_size: max,
                text_share,
                zip_share,
                plant_share,
                eicar_share,
                plant_in_zip,
            };
            let m = corpus(&cfg, &plants, &out).map_err(|e| format!("{}: {e}", out.display()))?;
            let planted = m.entries.iter().filter(|e| e.planted.is_some()).count();
            eprintln!(
                "wrote {} files, {} bytes ({planted} with a plant or EICAR) to {} in {:.3}s",
                m.entries.len(),
                m.total_bytes(),
                out.display(),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-corpus: {e}");
            ExitCode::FAILURE
        }
    }
}
