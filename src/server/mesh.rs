//! Messages between cores, over glommio's channel mesh (one bounded single-producer
//! single-consumer channel per ordered pair of cores).
//!
//! Nothing on the scan path crosses cores. What does: a new database to install, a
//! reload or shutdown request to core 0 (which coordinates both), and the
//! rare requests that need every core (STATS snapshots, MULTISCAN files).

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use futures_lite::StreamExt;
use glommio::channels::channel_mesh::Receivers;

use super::core::{ConnGuard, Core, Protocol};
use super::database::Database;
use super::files::FileOutcome;
use super::stats::{CoreSnapshot, Merged};

/// A message from one core to another.
pub enum CoreMsg {
    /// Switch to this database (from core 0 after a reload).
    Install(Arc<Database>),
    /// Please reload the databases (to core 0).
    Reload,
    /// Please shut the server down (to core 0).
    Shutdown,
    /// Stop now (from core 0 to every core).
    Stop,
    /// Send your counters to core `from`.
    StatsRequest {
        /// Who asks.
        from: usize,
        /// Reply channel id on the asking core.
        request: u64,
        /// Then zero the KAV counters (KAV `clearstatistics`).
        clear_kav: bool,
    },
    /// A core's counters.
    StatsReply {
        /// The reply channel id.
        request: u64,
        /// The counters.
        snapshot: Box<CoreSnapshot>,
    },
    /// Scan this file for core `from` (MULTISCAN).
    ScanFile {
        /// Who asks.
        from: usize,
        /// Reply channel id on the asking core.
        request: u64,
        /// The file.
        path: PathBuf,
    },
    /// A file's result.
    ScanFileReply {
        /// The reply channel id.
        request: u64,
        /// The file.
        path: PathBuf,
        /// What was found.
        outcome: FileOutcome,
    },
}

/// Spawns one receiving task per peer; each runs until the peer's sender is gone.
pub fn spawn_receivers(core: &Rc<Core>, mut receivers: Receivers<CoreMsg>) {
    for (_peer, receiver) in receivers.streams() {
        let core = core.clone();
        glommio::spawn_local(async move {
            let mut stream = receiver;
            while let Some(msg) = stream.next().await {
                handle(&core, msg).await;
            }
        })
        .detach();
    }
}

async fn handle(core: &Rc<Core>, msg: CoreMsg) {
    match msg {
        CoreMsg::Install(db) => {
            tracing::debug!(
                core = core.id,
                generation = db.generation,
                "installing database"
            );
            core.install(db);
        }
        CoreMsg::Reload => super::reload::request(core),
        CoreMsg::Shutdown => super::begin_shutdown(core).await,
        CoreMsg::Stop => core.stop(),
        CoreMsg::StatsRequest {
            from,
            request,
            clear_kav,
        } => {
            let snapshot = Box::new(snapshot_of(core, clear_kav));
            core.send(from, CoreMsg::StatsReply { request, snapshot })
                .await;
        }
        CoreMsg::ScanFile {
            from,
            request,
            path,
        } => {
            // Scanned in its own task so this channel keeps draining meanwhile, and
            // counted like a connection so that a stopping core finishes it first.
            let core = core.clone();
            let job = ConnGuard::open(&core.shared, core.id, Protocol::Clamd);
            glommio::spawn_local(async move {
                let outcome = super::files::scan_file(&core, &path, false).await;
                drop(job);
                core.send(
                    from,
                    CoreMsg::ScanFileReply {
                        request,
                        path,
                        outcome,
                    },
                )
                .await;
            })
            .detach();
        }
        reply @ CoreMsg::StatsReply { request, .. } => core.deliver_reply(request, reply),
        reply @ CoreMsg::ScanFileReply { request, .. } => core.deliver_reply(request, reply),
    }
}

/// This core's counters; with `clear_kav`, its KAV counters are zeroed after.
fn snapshot_of(core: &Core, clear_kav: bool) -> CoreSnapshot {
    let mut stats = core.stats.borrow_mut();
    let snapshot = stats.snapshot(core.id, core.open_connections());
    if clear_kav {
        stats.kav = Default::default();
    }
    snapshot
}

/// Every core's counters, merged: this core's directly, the others' over the mesh.
pub async fn gather_stats(core: &Rc<Core>) -> Merged {
    gather(core, false).await
}

/// Zeroes the KAV counters of every core (KAV `clearstatistics`); returns what they
/// were.
pub async fn clear_kav_stats(core: &Rc<Core>) -> Merged {
    gather(core, true).await
}

async fn gather(core: &Rc<Core>, clear_kav: bool) -> Merged {
    let mut snapshots = vec![snapshot_of(core, clear_kav)];
    let others = core.cores() - 1;
    if others > 0 {
        let (request, replies) = core.open_replies(others);
        for to in (0..core.cores()).filter(|&c| c != core.id) {
            core.send(
                to,
                CoreMsg::StatsRequest {
                    from: core.id,
                    request,
                    clear_kav,
                },
            )
            .await;
        }
        // A core that stopped answering is left out rather than waited for forever.
        let deadline = std::time::Duration::from_secs(2);
        for _ in 0..others {
            match glommio::timer::timeout(deadline, async { Ok(replies.recv().await) }).await {
                Ok(Some(CoreMsg::StatsReply { snapshot, .. })) => snapshots.push(*snapshot),
                _ => break,
            }
        }
        core.close_replies(request);
    }
    Merged::new(snapshots)
}
