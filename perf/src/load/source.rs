//! Where the objects come from, for `closed` and `open`: a corpus directory (with its
//! expectations, see [`objects`](super::objects)) or synthetic objects of one size
//! ([`synthetic`](super::synthetic)).

use std::path::PathBuf;

use super::objects::{ExpectSpec, Objects};
use super::synthetic;
use super::target::{Client, ClientArgs};
use super::util::parse_size;

/// The object options.
#[derive(clap::Args, Debug, Clone)]
pub struct ObjectArgs {
    /// Corpus directory: every regular file under it (but a top-level manifest.tsv) is
    /// read into memory before the run.
    #[arg(
        long,
        visible_alias = "objects",
        required_unless_present = "size",
        conflicts_with = "size"
    )]
    pub corpus: Option<PathBuf>,
    /// Synthetic objects of this size instead of a corpus (4K, 1M, ...): seeded random
    /// bytes, --eicar-share of them with the EICAR string at a random offset (expected
    /// FOUND, any name), the rest expected OK.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,
    /// With --size: the share of objects that carry EICAR.
    #[arg(long, default_value_t = 0.1)]
    pub eicar_share: f64,
    /// With --size: how many distinct objects [default: 32 MiB worth, 20 to 1000, a
    /// multiple of 10].
    #[arg(long, requires = "size")]
    pub count: Option<usize>,
    /// With --size: the seed of the bytes and of the EICAR picks and offsets.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// With --corpus: where the expected verdicts come from: auto (the corpus's
    /// manifest.tsv, else a first pass), manifest, first-pass, none, or a FILE of
    /// `name<TAB>OK|FOUND[<TAB>sig[,sig]]` lines.
    #[arg(long, default_value = "auto")]
    pub expect: ExpectSpec,
    /// With --corpus: bench-corpus's hash-hits.tsv (`name<TAB>file`): these files are
    /// also expected FOUND.
    #[arg(long)]
    pub hash_hits: Option<PathBuf>,
}

/// Loads or makes the objects; a corpus that needs a first pass gets it, one object at
/// a time, through a client of `client`.
pub fn load(args: &ObjectArgs, client: &ClientArgs) -> Result<Objects, String> {
    let (Some(dir), None) = (&args.corpus, args.size) else {
        let Some(size) = args.size else {
            return Err("give --corpus DIR or --size SIZE".into());
        };
        let spec = synthetic::Spec {
            size,
            eicar_share: args.eicar_share,
            count: args.count,
            seed: args.seed,
        };
        return spec.generate();
    };
    eprintln!("ringscan-perf: reading {}", dir.display());
    let mut objects = Objects::load(dir, &args.expect, args.hash_hits.as_deref())?;
    if objects.needs_first_pass {
        eprintln!(
            "ringscan-perf: first pass over {} objects to learn the verdicts",
            objects.objects.len()
        );
        let mut c = Client::new(client);
        objects.learn(|o| {
            c.request(o, None)
                .map_err(|(k, m)| format!("{}: {m}", k.as_str()))
        })?;
    }
    Ok(objects)
}
