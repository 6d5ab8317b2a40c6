//! The audit trail of a driver's kernel requests: each request the host makes for it
//! (after its grants allowed it) is logged at debug level with the driver, the
//! request, its target, the result and the time it took, and counted for
//! `wnet driver inspect`. Refused requests never get here: they are logged as warnings
//! and counted by the grant checks.

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use wnet_netlink::{
    Address, Link, LinkChange, Namespace, Neighbour, Netlink, NetlinkError, NewLink, Route,
};
use wnet_types::IpNet;

type Result<T> = std::result::Result<T, NetlinkError>;

/// A driver's count of kernel requests made and of those the kernel failed.
#[derive(Debug, Default)]
pub struct KernelCounters {
    /// Requests made.
    pub requests: AtomicU64,
    /// Requests the kernel answered with an error.
    pub failed: AtomicU64,
}

/// A driver's view of netlink: the host's, with every request logged and counted.
pub(crate) struct Audited {
    inner: Arc<dyn Netlink>,
    driver: Arc<str>,
    pub(crate) counters: Arc<KernelCounters>,
}

impl Audited {
    pub(crate) fn new(inner: Arc<dyn Netlink>, driver: &str) -> Self {
        Audited {
            inner,
            driver: driver.into(),
            counters: Arc::default(),
        }
    }

    /// Logs and counts one request.
    pub(crate) fn note<T>(
        &self,
        request: &str,
        ns: &Namespace,
        target: &dyn Display,
        result: &Result<T>,
        started: Instant,
    ) {
        // The host's namespace is this thread's: a /proc path that means nothing later.
        let path = ns.path();
        let ns: &dyn Display =
            if path.starts_with("/proc/thread-self") || path.starts_with("/proc/self") {
                &"host"
            } else {
                &path.display()
            };
        audit(
            &self.driver,
            &self.counters,
            request,
            ns,
            target,
            result.as_ref().err().map(|e| e as &dyn Display),
            started,
        );
    }
}

/// Logs and counts one kernel request of `driver`.
pub(crate) fn audit(
    driver: &str,
    counters: &KernelCounters,
    request: &str,
    ns: &dyn Display,
    target: &dyn Display,
    error: Option<&dyn Display>,
    started: Instant,
) {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let micros = started.elapsed().as_micros() as u64;
    match error {
        None => tracing::debug!(driver, request, %ns, %target, micros, "kernel request done"),
        Some(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(driver, request, %ns, %target, micros, error = %e, "kernel request failed");
        }
    }
}

#[async_trait]
impl Netlink for Audited {
    async fn link_add(&self, ns: &Namespace, link: NewLink) -> Result<u32> {
        let (t, name) = (Instant::now(), link.name.clone());
        let r = self.inner.link_add(ns, link).await;
        self.note("link-add", ns, &name, &r, t);
        r
    }

    async fn link_del(&self, ns: &Namespace, index: u32) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.link_del(ns, index).await;
        self.note("link-del", ns, &format!("ifindex {index}"), &r, t);
        r
    }

    async fn link_set(&self, ns: &Namespace, index: u32, change: LinkChange) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.link_set(ns, index, change).await;
        self.note("link-set", ns, &format!("ifindex {index}"), &r, t);
        r
    }

    async fn links(&self, ns: &Namespace) -> Result<Vec<Link>> {
        let t = Instant::now();
        let r = self.inner.links(ns).await;
        self.note("links", ns, &"all", &r, t);
        r
    }

    async fn link_by_name(&self, ns: &Namespace, name: &str) -> Result<Option<Link>> {
        let t = Instant::now();
        let r = self.inner.link_by_name(ns, name).await;
        self.note("link-get", ns, &name, &r, t);
        r
    }

    async fn addr_add(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.addr_add(ns, index, address).await;
        self.note(
            "addr-add",
            ns,
            &format!("{address} on ifindex {index}"),
            &r,
            t,
        );
        r
    }

    async fn addr_del(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.addr_del(ns, index, address).await;
        self.note(
            "addr-del",
            ns,
            &format!("{address} on ifindex {index}"),
            &r,
            t,
        );
        r
    }

    async fn addrs(&self, ns: &Namespace) -> Result<Vec<Address>> {
        let t = Instant::now();
        let r = self.inner.addrs(ns).await;
        self.note("addrs", ns, &"all", &r, t);
        r
    }

    async fn route_add(&self, ns: &Namespace, route: Route) -> Result<()> {
        let (t, dst) = (Instant::now(), route.destination);
        let r = self.inner.route_add(ns, route).await;
        self.note("route-add", ns, &dst, &r, t);
        r
    }

    async fn route_del(&self, ns: &Namespace, route: Route) -> Result<()> {
        let (t, dst) = (Instant::now(), route.destination);
        let r = self.inner.route_del(ns, route).await;
        self.note("route-del", ns, &dst, &r, t);
        r
    }

    async fn routes(&self, ns: &Namespace) -> Result<Vec<Route>> {
        let t = Instant::now();
        let r = self.inner.routes(ns).await;
        self.note("routes", ns, &"all", &r, t);
        r
    }

    async fn neigh_add(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        let (t, target) = (Instant::now(), format!("{entry:?}"));
        let r = self.inner.neigh_add(ns, entry).await;
        self.note("neigh-add", ns, &target, &r, t);
        r
    }

    async fn neigh_del(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        let (t, target) = (Instant::now(), format!("{entry:?}"));
        let r = self.inner.neigh_del(ns, entry).await;
        self.note("neigh-del", ns, &target, &r, t);
        r
    }

    async fn neighbours(&self, ns: &Namespace, index: u32) -> Result<Vec<Neighbour>> {
        let t = Instant::now();
        let r = self.inner.neighbours(ns, index).await;
        self.note("neighbours", ns, &format!("ifindex {index}"), &r, t);
        r
    }

    fn forget(&self, ns: &Namespace) {
        self.inner.forget(ns);
    }
}
