//! A room's label catalog (XEP-0258) as the gateway uses it: the XMPP server's, when it serves
//! one for the room, reduced to the labels the gateway can decide (readable, of a loaded
//! policy) within the room's ceiling; otherwise the mapping's. It feeds `restrict_to_catalog`
//! and what IRC users are shown as the room's labels (each user sees those their clearance
//! covers). An item that cannot be used is left out — never read as the default — and said
//! in the log once. Fetched once per room for [`KEEP`], shared by every user.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jid::{BareJid, Jid};

use super::State;
use super::crossing;
use crate::config::mappings::Mapping;
use crate::label::Label;
use crate::xmpp::session::Session;

/// How long a fetched catalog (or the server's having none) is kept.
pub(super) const KEEP: Duration = Duration::from_secs(300);
/// How long the server has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A room's catalog as fetched: when, and the usable labels (`None`: the server has none).
type Fetched = (Instant, Option<Vec<Label>>);

/// The catalogs fetched, by room, and the unusable items already logged.
#[derive(Default)]
pub(crate) struct Catalogs {
    fetched: Mutex<HashMap<BareJid, Fetched>>,
    logged: Mutex<HashSet<String>>,
}

impl Catalogs {
    /// The server's catalog of `mapping`'s room as the gateway can use it (asked through
    /// `session` unless fetched lately), or `None`: use the mapping's.
    pub(super) async fn for_room(
        &self,
        session: &Session,
        state: &State,
        mapping: &Mapping,
    ) -> Option<Vec<Label>> {
        let room = &mapping.room;
        if let Ok(f) = self.fetched.lock()
            && let Some((at, labels)) = f.get(room)
            && at.elapsed() < KEEP
        {
            return labels.clone().map(|l| within(state, mapping, l));
        }
        let target = Jid::from(room.clone());
        let asked = tokio::time::timeout(ANSWER_WITHIN, session.catalog(&target));
        let labels = match asked.await {
            Ok(Ok(cat)) => {
                let mut usable = Vec::new();
                let mut unusable: Vec<(String, String)> = cat
                    .unreadable
                    .iter()
                    .map(|(s, why)| (s.clone().unwrap_or_default(), why.clone()))
                    .collect();
                for item in &cat.items {
                    // An item without a label offers "unlabelled": the room's default, which
                    // the gateway already uses for unmarked lines.
                    let Some(sl) = &item.label else { continue };
                    let selector = item.selector.clone().unwrap_or_default();
                    match crossing::label_in(state, &mapping.default_label, &Some(Ok(sl.clone()))) {
                        Ok(Some(l)) if !usable.contains(&l) => usable.push(l),
                        Ok(_) => {}
                        Err(why) => unusable.push((selector, why)),
                    }
                }
                for (selector, why) in unusable {
                    let key = format!("{room} {selector}");
                    if self.logged.lock().is_ok_and(|mut l| l.insert(key)) {
                        tracing::warn!(%room, %selector, %why, "a catalog item from the XMPP server cannot be decided; it is left out");
                    }
                }
                (!usable.is_empty()).then_some(usable)
            }
            Ok(Err(e)) => {
                tracing::debug!(%room, error = %e, "no label catalog from the XMPP server; the mapping's is used");
                None
            }
            Err(_) => {
                tracing::warn!(%room, "the XMPP server did not answer the catalog request in time; the mapping's catalog is used");
                None
            }
        };
        if let Ok(mut f) = self.fetched.lock() {
            f.insert(room.clone(), (Instant::now(), labels.clone()));
        }
        labels.map(|l| within(state, mapping, l))
    }
}

/// The labels of `labels` within the room's ceiling (a catalog never widens what the room
/// may carry).
pub(super) fn within(state: &State, mapping: &Mapping, labels: Vec<Label>) -> Vec<Label> {
    let policies = state.gate.policies();
    labels
        .into_iter()
        .filter(|l| policies.check(&mapping.clearance, l).is_ok())
        .collect()
}
