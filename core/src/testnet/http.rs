//! The HTTP client of the trigger API: numbers requests, builds them as the
//! driver would have parsed them, and checks that each gets exactly one response.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use bytes::Bytes;

use crate::contract::ServerId;
use crate::engine::{HttpRequest, HttpRequestId};

/// The HTTP client's view: requests sent and not yet answered.
#[derive(Debug, Default)]
pub struct HttpClient {
    next_id: u64,
    pending: BTreeSet<HttpRequestId>,
}

impl HttpClient {
    /// A request to `server`, numbered from 1.
    pub fn request(
        &mut self,
        server: ServerId,
        peer: SocketAddr,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> HttpRequest {
        let query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.request_with(server, peer, method, path, query)
    }

    /// A request numbered `id` by the caller (who keeps the numbers unique).
    pub fn request_as(
        &mut self,
        id: HttpRequestId,
        server: ServerId,
        peer: SocketAddr,
        method: &str,
        path: &str,
        query: BTreeMap<String, String>,
    ) -> HttpRequest {
        self.pending.insert(id);
        HttpRequest {
            id,
            server,
            peer,
            method: method.to_owned(),
            path: path.to_owned(),
            query,
            headers: BTreeMap::new(),
            body: Bytes::new(),
        }
    }

    /// A request with its query already a map.
    pub fn request_with(
        &mut self,
        server: ServerId,
        peer: SocketAddr,
        method: &str,
        path: &str,
        query: BTreeMap<String, String>,
    ) -> HttpRequest {
        self.next_id += 1;
        self.request_as(
            HttpRequestId(self.next_id),
            server,
            peer,
            method,
            path,
            query,
        )
    }

    /// A response arrived: `true` if `id` was waiting for it.
    pub fn response(&mut self, id: HttpRequestId) -> bool {
        self.pending.remove(&id)
    }

    /// Requests still waiting for their response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}
