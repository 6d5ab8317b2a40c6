//! A [`Netlink`] that fails one chosen request: to show that a failure at any kernel
//! step of an operation leaves nothing behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use wnet_netlink::{
    Address, Link, LinkChange, Namespace, Neighbour, Netlink, NetlinkError, NewLink, Result, Route,
};
use wnet_types::IpNet;

/// Passes every request to the kernel except the armed one, which fails as the kernel
/// would with `EIO`. Only that one: the undo that follows runs against the kernel.
pub struct FaultyNetlink {
    inner: Arc<dyn Netlink>,
    /// Requests seen since arming.
    seen: AtomicUsize,
    /// The request (1-based, since arming) that fails; 0 for none.
    fail_at: AtomicUsize,
    /// What the failed request was.
    failed: std::sync::Mutex<Option<String>>,
}

impl FaultyNetlink {
    /// Over `inner`, disarmed.
    pub fn new(inner: Arc<dyn Netlink>) -> Self {
        FaultyNetlink {
            inner,
            seen: AtomicUsize::new(0),
            fail_at: AtomicUsize::new(0),
            failed: std::sync::Mutex::default(),
        }
    }

    /// Fails the `n`th request from now (1-based); 0 disarms.
    pub fn arm(&self, n: usize) {
        self.seen.store(0, Ordering::SeqCst);
        *self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.fail_at.store(n, Ordering::SeqCst);
    }

    /// The request that was failed since arming, if one was.
    pub fn failed(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Requests seen since arming.
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }

    fn step(&self, op: &str) -> Result<()> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            *self
                .failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(format!("request {n}: {op}"));
            return Err(NetlinkError::Other {
                op: op.to_owned(),
                reason: "injected failure (EIO)".to_owned(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Netlink for FaultyNetlink {
    async fn link_add(&self, ns: &Namespace, link: NewLink) -> Result<u32> {
        self.step(&format!("link_add {}", link.name))?;
        self.inner.link_add(ns, link).await
    }
    async fn link_del(&self, ns: &Namespace, index: u32) -> Result<()> {
        self.step(&format!("link_del {index}"))?;
        self.inner.link_del(ns, index).await
    }
    async fn link_set(&self, ns: &Namespace, index: u32, change: LinkChange) -> Result<()> {
        self.step(&format!("link_set {index} {change:?}"))?;
        self.inner.link_set(ns, index, change).await
    }
    async fn links(&self, ns: &Namespace) -> Result<Vec<Link>> {
        self.step("links")?;
        self.inner.links(ns).await
    }
    async fn link_by_name(&self, ns: &Namespace, name: &str) -> Result<Option<Link>> {
        self.step(&format!("link_by_name {name}"))?;
        self.inner.link_by_name(ns, name).await
    }
    async fn addr_add(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        self.step(&format!("addr_add {index} {address}"))?;
        self.inner.addr_add(ns, index, address).await
    }
    async fn addr_del(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        self.step(&format!("addr_del {index} {address}"))?;
        self.inner.addr_del(ns, index, address).await
    }
    async fn addrs(&self, ns: &Namespace) -> Result<Vec<Address>> {
        self.step("addrs")?;
        self.inner.addrs(ns).await
    }
    async fn route_add(&self, ns: &Namespace, route: Route) -> Result<()> {
        self.step(&format!("route_add {}", route.destination))?;
        self.inner.route_add(ns, route).await
    }
    async fn route_del(&self, ns: &Namespace, route: Route) -> Result<()> {
        self.step(&format!("route_del {}", route.destination))?;
        self.inner.route_del(ns, route).await
    }
    async fn routes(&self, ns: &Namespace) -> Result<Vec<Route>> {
        self.step("routes")?;
        self.inner.routes(ns).await
    }
    async fn neigh_add(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        self.step(&format!("neigh_add {}", entry.mac))?;
        self.inner.neigh_add(ns, entry).await
    }
    async fn neigh_del(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        self.step(&format!("neigh_del {}", entry.mac))?;
        self.inner.neigh_del(ns, entry).await
    }
    async fn neighbours(&self, ns: &Namespace, index: u32) -> Result<Vec<Neighbour>> {
        self.step("neighbours")?;
        self.inner.neighbours(ns, index).await
    }
    fn forget(&self, ns: &Namespace) {
        self.inner.forget(ns);
    }
}
