//! Password checks on a few dedicated threads. An argon2id check takes tens of milliseconds of
//! CPU and about 19 MiB of working memory. Allocated per check, that memory stayed resident
//! after every login (19 MiB per user, measured); here each thread allocates it once and
//! reuses it, and a fixed pool of one thread per core bounds the CPU a burst of logins can take
//! from the relay.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::config::users::{User, Users};

/// Logins waiting for a check beyond this are refused (as a failed login) rather than queued.
const QUEUE: usize = 1024;

struct Job {
    users: Arc<Users>,
    account: String,
    password: String,
    reply: oneshot::Sender<Option<User>>,
}

/// The pool (its threads end when it is dropped).
pub struct PasswordCheckers {
    tx: SyncSender<Job>,
}

impl std::fmt::Debug for PasswordCheckers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordCheckers")
    }
}

impl PasswordCheckers {
    /// A pool of `threads` checkers (at least one).
    pub fn new(threads: usize) -> PasswordCheckers {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("labelgate-pw{i}"))
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-check thread");
            }
        }
        PasswordCheckers { tx }
    }

    /// One thread per core (at most four).
    pub fn per_core() -> PasswordCheckers {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        PasswordCheckers::new(n)
    }

    /// The user if `password` is theirs (same timing for unknown accounts).
    pub async fn check(
        &self,
        users: Arc<Users>,
        account: String,
        password: String,
    ) -> Option<User> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            users,
            account,
            password,
            reply,
        };
        match self.tx.try_send(job) {
            Ok(()) => rx.await.ok().flatten(),
            Err(TrySendError::Full(_)) => {
                tracing::warn!("too many logins waiting for a password check; refusing one");
                None
            }
            Err(TrySendError::Disconnected(_)) => None,
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    // This thread's argon2 working memory, allocated once and reused.
    let mut memory: Vec<argon2::Block> = Vec::new();
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let found = job
            .users
            .check_password_with(&job.account, &job.password, &mut memory)
            .cloned();
        let _ = job.reply.send(found);
    }
}
