//! The built-in database, compiled into the binary so that `ringscan scan` and
//! `ringscan serve` work with zero setup. It holds only test signatures: EICAR by MD5
//! and SHA256, named as ClamAV's official database names it (`Win.Test.EICAR_HDB-1`;
//! like ClamAV, only the exact 68-byte file is detected), and ClamAV's own
//! `CLAMAV-TEST-STRING-NOT-EICAR` unit-test string at offset 0. It is "official": names
//! carry no `.UNOFFICIAL` suffix.

use super::DbBuilder;

/// `(file name, contents)` of every built-in database file.
pub const FILES: &[(&str, &str)] = &[
    ("builtin.hdb", include_str!("builtin/builtin.hdb")),
    ("builtin.hsb", include_str!("builtin/builtin.hsb")),
    ("builtin.ndb", include_str!("builtin/builtin.ndb")),
];

/// A builder holding the built-in database.
pub fn builder() -> DbBuilder {
    let mut b = DbBuilder::new();
    for (name, text) in FILES {
        // Built-in files are plain signature files; add_file cannot fail for them.
        if let Err(e) = b.add_file(name, text.as_bytes().to_vec(), true) {
            tracing::error!("built-in database {name}: {e}");
        }
    }
    b
}
