//! Hot reload, coordinated by core 0.
//!
//! A request (RELOAD on any core, SIGHUP or SIGUSR2, a changed database file when
//! watching) sets a flag and wakes the coordinator; requests that arrive while a
//! reload runs are folded into one more reload after it. The coordinator compiles on
//! glommio's blocking thread pool, off the executors, then publishes: it sends the
//! new `Arc<Database>` to every other core and installs it on core 0. Each core grows
//! its scratch before switching (see `Core::install`), and a scan that started on the
//! old database finishes on it, since it holds its own `Arc`. A database that fails to
//! load changes nothing but the status STATS shows and an error in the log.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use glommio::channels::local_channel::{self, LocalReceiver};

use super::core::{unless_stopped, Core, ReloadOutcome};
use super::database::{self, Database};
use super::mesh::CoreMsg;

/// How long after publishing the old database's memory is collected.
const OLD_DATABASE_GRACE: Duration = Duration::from_secs(2);

/// Asks for a reload from any core.
pub fn request(core: &Rc<Core>) {
    if core.id != 0 {
        let core = core.clone();
        glommio::spawn_local(async move { core.send(0, CoreMsg::Reload).await }).detach();
        return;
    }
    core.reload_pending.set(true);
    if let Some(wake) = core.reload_wake.borrow().as_ref() {
        // Capacity one: a wake already queued covers this request too.
        let _ = wake.try_send(());
    }
}

/// Starts the coordinator on core 0.
pub fn start(core: &Rc<Core>) {
    let (wake, woken): (_, LocalReceiver<()>) = local_channel::new_bounded(1);
    *core.reload_wake.borrow_mut() = Some(wake);
    let core = core.clone();
    glommio::spawn_local(async move {
        while unless_stopped(&core, woken.recv())
            .await
            .flatten()
            .is_some()
        {
            while core.reload_pending.replace(false) {
                reload(&core).await;
            }
        }
    })
    .detach();
}

async fn reload(core: &Rc<Core>) {
    let generation = core.db().generation + 1;
    let options = core.shared.load_options();
    core.shared.update_status(|s| s.reloading = true);
    tracing::info!(generation, "reloading databases");
    let loaded = glommio::executor()
        .spawn_blocking(move || database::load(&options, generation))
        .await;
    match loaded {
        Ok(db) => publish(core, Arc::new(db)).await,
        Err(e) => {
            tracing::error!(error = %e, "database reload failed; the previous database keeps serving");
            core.shared.update_status(|s| {
                s.reloading = false;
                s.reloads_failed += 1;
                s.last_reload = Some(ReloadOutcome::Failed {
                    at: SystemTime::now(),
                    error: e.to_string(),
                });
            });
        }
    }
}

async fn publish(core: &Rc<Core>, db: Arc<Database>) {
    db.log_loaded("database loaded; publishing to every core");
    let generation = db.generation;
    for to in (0..core.cores()).filter(|&c| c != core.id) {
        core.send(to, CoreMsg::Install(db.clone())).await;
    }
    core.install(db);
    release_old_database_memory(core);
    core.shared.update_status(|s| {
        s.reloading = false;
        s.reloads_ok += 1;
        s.last_reload = Some(ReloadOutcome::Loaded {
            at: SystemTime::now(),
            generation,
        });
    });
}

/// Memory of the replaced database goes back to the OS once every core has let go
/// of it. The engine was allocated on the blocking thread that compiled it, and
/// mimalloc returns freed blocks to the heap of the thread that allocated them, so
/// that is where the collection runs (the pool has one thread); the delay lets the
/// other cores switch and in-flight scans end.
fn release_old_database_memory(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        if unless_stopped(&core, glommio::timer::sleep(OLD_DATABASE_GRACE))
            .await
            .is_some()
        {
            glommio::executor()
                .spawn_blocking(crate::server::release_free_memory)
                .await;
            crate::server::release_free_memory();
        }
    })
    .detach();
}

/// Whether the database files differ from those the current database was loaded
/// from (SELFCHECK and the watcher): a file appeared, disappeared, or changed size or
/// modification time.
pub fn databases_changed(core: &Core) -> bool {
    database::fingerprint(&core.shared.config.database.paths) != core.db().files
}

/// Polls the database paths (core 0) and asks for a reload when they change
/// (clamd's SelfCheck). A stat per file every interval: cheap next to a reload, and
/// free of inotify's limits.
pub fn start_watch(core: &Rc<Core>, interval: Duration) {
    if core.shared.config.database.paths.is_empty() {
        return;
    }
    let core = core.clone();
    glommio::spawn_local(async move {
        while unless_stopped(&core, glommio::timer::sleep(interval))
            .await
            .is_some()
        {
            if !core.shared.status().reloading && databases_changed(&core) {
                tracing::info!("database files changed");
                request(&core);
            }
        }
    })
    .detach();
}
