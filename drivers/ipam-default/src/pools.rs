//! Address spaces, pools and addresses, persisted in `kv`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use wnet_sdk::{
    AddressRequest, AllocatedAddress, AllocatedPool, Error, IpNet, Options, PoolRequest, Result,
    keys, kv,
};

use crate::bitmap::{Bitmap, CHUNK_BITS};

/// The address space of local-scope networks.
pub const LOCAL_SPACE: &str = "LocalDefault";
/// The address space of global-scope networks.
pub const GLOBAL_SPACE: &str = "GlobalDefault";

/// libnetwork's predefined pools (`ipamutils`), with the size each is split into.
fn predefined(space: &str, v6: bool) -> Vec<(IpNet, u8)> {
    let list: &[(&str, u8)] = match (space, v6) {
        (LOCAL_SPACE, false) => &[
            ("172.17.0.0/16", 16),
            ("172.18.0.0/16", 16),
            ("172.19.0.0/16", 16),
            ("172.20.0.0/14", 16),
            ("172.24.0.0/14", 16),
            ("172.28.0.0/14", 16),
            ("192.168.0.0/16", 20),
        ],
        (GLOBAL_SPACE, false) => &[("10.0.0.0/8", 24)],
        // libnetwork derives a host-unique ULA /48 from the host's id; the driver has no
        // host identity, so it uses one fixed ULA ("wnet" in its bytes).
        (_, true) => &[("fd42:776e:6574::/48", 64)],
        _ => &[],
    };
    list.iter()
        .filter_map(|(net, split)| Some((net.parse().ok()?, *split)))
        .collect()
}

fn check_space(space: &str) -> Result<()> {
    if space == LOCAL_SPACE || space == GLOBAL_SPACE {
        Ok(())
    } else {
        Err(Error::invalid_parameter(format!(
            "address space `{space}` is unknown: use `{LOCAL_SPACE}` or `{GLOBAL_SPACE}`"
        )))
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(v6: bool, value: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(value))
    } else {
        // An IPv4 pool's ordinals stay below 2^32.
        IpAddr::V4(Ipv4Addr::from(value as u32))
    }
}

/// The highest ordinal of `subnet` (its size minus one).
fn last_ordinal(subnet: IpNet) -> u128 {
    let host_bits = u32::from(subnet.max_prefix_len() - subnet.prefix_len());
    if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn pool_id(space: &str, subnet: IpNet, range: Option<IpNet>) -> String {
    match range {
        Some(r) => format!("{space}/{subnet}/{r}"),
        None => format!("{space}/{subnet}"),
    }
}

/// Splits `<space>/<subnet>[/<range>]`.
fn parse_pool_id(id: &str) -> Result<(String, IpNet, Option<IpNet>)> {
    let bad = || Error::invalid_parameter(format!("`{id}` is not a pool id of the default IPAM"));
    let (space, rest) = id.split_once('/').ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let net = |a: &str, l: &str| format!("{a}/{l}").parse::<IpNet>().map_err(|_| bad());
    match parts.as_slice() {
        [a, l] => Ok((space.to_owned(), net(a, l)?, None)),
        [a, l, ra, rl] => Ok((space.to_owned(), net(a, l)?, Some(net(ra, rl)?))),
        _ => Err(bad()),
    }
}

/// What `kv` holds per pool besides its bitmap.
#[derive(Serialize, Deserialize)]
struct PoolMeta {
    children: Vec<IpNet>,
    auto_release: bool,
    serial_cursor: Option<String>,
}

struct Pool {
    space: String,
    subnet: IpNet,
    /// `bits/<space>/<subnet>/`: the prefix of the pool's chunk keys, made once.
    chunk_prefix: String,
    /// The key of the chunk written last: allocations come in runs within a chunk.
    last_chunk_key: Option<(u128, String)>,
    /// Sub-pools handed out (`--ip-range`), each a pool id of its own.
    children: BTreeSet<IpNet>,
    /// The pool was not asked for as a whole (or was released): it goes when its last
    /// child does.
    auto_release: bool,
    /// Where serial allocation resumes.
    serial_cursor: Option<u128>,
    bits: Bitmap,
}

impl Pool {
    fn new(space: &str, subnet: IpNet, auto_release: bool) -> Self {
        let mut pool = Pool {
            space: space.to_owned(),
            subnet,
            chunk_prefix: chunk_prefix(space, subnet),
            last_chunk_key: None,
            children: BTreeSet::new(),
            auto_release,
            serial_cursor: None,
            bits: Bitmap::new(last_ordinal(subnet)),
        };
        for o in pool.reserved() {
            pool.bits.set(o);
        }
        pool
    }

    /// The network address (IPv6: the subnet-router anycast) and, for IPv4, the
    /// broadcast, except on point-to-point and host prefixes.
    fn reserved(&self) -> Vec<u128> {
        let host_bits = self.subnet.max_prefix_len() - self.subnet.prefix_len();
        match (self.subnet, host_bits) {
            (_, 0 | 1) => vec![],
            (IpNet::V4(_), _) => vec![0, self.bits.last()],
            (IpNet::V6(_), _) => vec![0],
        }
    }

    fn ordinal(&self, ip: IpAddr) -> u128 {
        bits(ip) - bits(self.subnet.network())
    }

    fn address(&self, ordinal: u128) -> IpAddr {
        from_bits(
            self.subnet.addr().is_ipv6(),
            bits(self.subnet.network()) + ordinal,
        )
    }

    fn meta(&self) -> PoolMeta {
        PoolMeta {
            children: self.children.iter().copied().collect(),
            auto_release: self.auto_release,
            serial_cursor: self.serial_cursor.map(|c| c.to_string()),
        }
    }
}

fn meta_key(space: &str, subnet: IpNet) -> String {
    format!("pool/{space}/{subnet}")
}

fn chunk_prefix(space: &str, subnet: IpNet) -> String {
    format!("bits/{space}/{subnet}/")
}

fn chunk_key(prefix: &str, index: u128) -> String {
    format!("{prefix}{index:032x}")
}

/// Every pool of every address space.
pub struct State {
    /// By base pool id, `<space>/<subnet>`.
    pools: BTreeMap<String, Pool>,
    /// Pool ids already parsed: every address request names one, and parsing two
    /// prefixes from text would cost more than the allocation itself.
    parsed_ids: std::collections::HashMap<String, (String, Option<IpNet>)>,
    /// The last pool id looked up, with its parse.
    last_id: Option<(String, String, Option<IpNet>)>,
}

impl State {
    /// Loads every pool and bitmap chunk from `kv`.
    pub fn load() -> Result<Self> {
        let mut pools = BTreeMap::new();
        for (key, value) in kv::list("pool/")? {
            let rest = &key["pool/".len()..];
            let (space, subnet) = rest
                .split_once('/')
                .and_then(|(s, n)| Some((s.to_owned(), n.parse::<IpNet>().ok()?)))
                .ok_or_else(|| Error::internal(format!("kv key `{key}` is not a pool")))?;
            let meta: PoolMeta = serde_json::from_slice(&value)
                .map_err(|e| Error::internal(format!("kv key `{key}`: {e}")))?;
            let mut pool = Pool::new(&space, subnet, meta.auto_release);
            pool.children = meta.children.into_iter().collect();
            pool.serial_cursor = meta.serial_cursor.and_then(|c| c.parse().ok());
            pools.insert(pool_id(&space, subnet, None), pool);
        }
        for (key, value) in kv::list("bits/")? {
            let bad = || Error::internal(format!("kv key `{key}` is not a bitmap chunk"));
            let (rest, index) = key["bits/".len()..].rsplit_once('/').ok_or_else(bad)?;
            let (space, subnet) = rest.split_once('/').ok_or_else(bad)?;
            let subnet: IpNet = subnet.parse().map_err(|_| bad())?;
            let index = u128::from_str_radix(index, 16).map_err(|_| bad())?;
            let pool = pools
                .get_mut(&pool_id(space, subnet, None))
                .ok_or_else(bad)?;
            if !pool.bits.load_chunk(index, &value) {
                return Err(bad());
            }
        }
        Ok(State {
            pools,
            parsed_ids: Default::default(),
            last_id: None,
        })
    }

    fn save_meta(pool: &Pool) -> Result<()> {
        kv::set_json(&meta_key(&pool.space, pool.subnet), &pool.meta())
    }

    fn save_chunk(pool: &mut Pool, index: u128) -> Result<()> {
        if pool
            .last_chunk_key
            .as_ref()
            .is_none_or(|(i, _)| *i != index)
        {
            pool.last_chunk_key = Some((index, chunk_key(&pool.chunk_prefix, index)));
        }
        let key = pool.last_chunk_key.as_ref().map_or("", |(_, k)| k.as_str());
        match pool.bits.chunk_bytes(index) {
            Some(bytes) => kv::set(key, &bytes),
            None => kv::delete(key).map(drop),
        }
    }

    fn save_new(pool: &mut Pool) -> Result<()> {
        Self::save_meta(pool)?;
        let mut chunks: Vec<u128> = pool.reserved().iter().map(|o| o / CHUNK_BITS).collect();
        chunks.dedup();
        for c in chunks {
            Self::save_chunk(pool, c)?;
        }
        Ok(())
    }

    fn forget(space: &str, subnet: IpNet) -> Result<()> {
        kv::delete(&meta_key(space, subnet))?;
        for (key, _) in kv::list(&chunk_prefix(space, subnet))? {
            kv::delete(&key)?;
        }
        Ok(())
    }

    /// The pools of `space` of one family, with `extra` prefixes, that a new pool
    /// must not overlap.
    fn taken(&self, space: &str, v6: bool) -> impl Iterator<Item = IpNet> + '_ {
        let space = space.to_owned();
        self.pools
            .values()
            .filter(move |p| p.space == space && p.subnet.addr().is_ipv6() == v6)
            .map(|p| p.subnet)
    }

    /// The lowest free predefined subnet (libnetwork's `allocatePredefinedPool`).
    fn dynamic(&self, space: &str, v6: bool, size: Option<u8>, exclude: &[IpNet]) -> Result<IpNet> {
        let taken: Vec<IpNet> = self
            .taken(space, v6)
            .chain(exclude.iter().copied())
            .collect();
        let mut fits = false;
        for (base, split) in predefined(space, v6) {
            let len = size.unwrap_or(split);
            if len < base.prefix_len() || len > base.max_prefix_len() {
                continue;
            }
            fits = true;
            let host_bits = u32::from(base.max_prefix_len() - len);
            let step: u128 = if host_bits == 128 {
                u128::MAX
            } else {
                1u128 << host_bits
            };
            let end = bits(base.broadcast());
            let mut start = bits(base.network());
            while start <= end {
                let candidate = IpNet::new(from_bits(v6, start), len)
                    .map_err(|e| Error::internal(e.to_string()))?;
                match taken.iter().find(|t| overlaps(**t, candidate)) {
                    None => return Ok(candidate),
                    Some(t) => {
                        // Skip past whichever of the two ends later, to a boundary of `step`.
                        let past = bits(t.broadcast()).max(bits(candidate.broadcast()));
                        match past.checked_add(1) {
                            Some(next) if next > start => start = next.div_ceil(step) * step,
                            _ => break,
                        }
                    }
                }
            }
        }
        if fits {
            Err(Error::unavailable(format!(
                "all predefined address pools of `{space}` have been fully subnetted"
            )))
        } else {
            Err(Error::invalid_parameter(format!(
                "no predefined pool of `{space}` can hold a /{}",
                size.unwrap_or_default()
            )))
        }
    }

    /// libnetwork's `RequestPool`.
    pub fn request_pool(&mut self, r: &PoolRequest) -> Result<AllocatedPool> {
        check_space(&r.address_space)?;
        let space = r.address_space.as_str();
        let family = if r.v6 { "IPv6" } else { "IPv4" };
        for p in r.pool.iter().chain(r.sub_pool.iter()) {
            if p.addr().is_ipv6() != r.v6 {
                return Err(Error::invalid_parameter(format!(
                    "{p} is not an {family} prefix, as the request asks"
                )));
            }
        }
        let dynamic_size = match r.pool {
            None => Some(None),
            Some(p) if p.addr().is_unspecified() => Some(Some(p.prefix_len())),
            Some(_) => None,
        };
        if let Some(size) = dynamic_size {
            if r.sub_pool.is_some() {
                return Err(Error::invalid_parameter(
                    "a sub-pool needs an explicit pool",
                ));
            }
            let subnet = self.dynamic(space, r.v6, size, &r.exclude)?;
            let mut pool = Pool::new(space, subnet, false);
            Self::save_new(&mut pool)?;
            self.pools.insert(pool_id(space, subnet, None), pool);
            return Ok(allocated(space, subnet, None));
        }
        let subnet = r.pool.ok_or_else(|| Error::internal("pool expected"))?;
        if subnet.trunc() != subnet {
            return Err(Error::invalid_parameter(format!(
                "pool {subnet} has host bits set: use {}",
                subnet.trunc()
            )));
        }
        let overlap = |state: &State| {
            state
                .taken(space, r.v6)
                .find(|t| *t != subnet && overlaps(*t, subnet))
                .map(|t| {
                    Error::forbidden(format!(
                        "pool {subnet} overlaps with pool {t} on address space `{space}`"
                    ))
                })
        };
        match r.sub_pool {
            None => {
                if self.pools.contains_key(&pool_id(space, subnet, None)) {
                    return Err(Error::forbidden(format!(
                        "pool {subnet} is already allocated on address space `{space}`"
                    )));
                }
                if let Some(e) = overlap(self) {
                    return Err(e);
                }
                let mut pool = Pool::new(space, subnet, false);
                Self::save_new(&mut pool)?;
                self.pools.insert(pool_id(space, subnet, None), pool);
                Ok(allocated(space, subnet, None))
            }
            Some(range) => {
                if range.trunc() != range || !subnet.contains(&range) {
                    return Err(Error::invalid_parameter(format!(
                        "sub-pool {range} is not a prefix inside pool {subnet}"
                    )));
                }
                match self.pools.get_mut(&pool_id(space, subnet, None)) {
                    Some(pool) => {
                        if !pool.children.insert(range) {
                            return Err(Error::forbidden(format!(
                                "sub-pool {range} of pool {subnet} is already allocated"
                            )));
                        }
                        Self::save_meta(pool)?;
                    }
                    None => {
                        if let Some(e) = overlap(self) {
                            return Err(e);
                        }
                        let mut pool = Pool::new(space, subnet, true);
                        pool.children.insert(range);
                        Self::save_new(&mut pool)?;
                        self.pools.insert(pool_id(space, subnet, None), pool);
                    }
                }
                Ok(allocated(space, subnet, Some(range)))
            }
        }
    }

    /// libnetwork's `ReleasePool`.
    pub fn release_pool(&mut self, id: &str) -> Result<()> {
        let (space, subnet, range) = parse_pool_id(id)?;
        let key = pool_id(&space, subnet, None);
        let not_allocated = || Error::not_found(format!("pool {id} is not allocated"));
        let pool = self.pools.get_mut(&key).ok_or_else(not_allocated)?;
        match range {
            Some(r) => {
                if !pool.children.remove(&r) {
                    return Err(not_allocated());
                }
            }
            None if pool.auto_release => return Err(not_allocated()),
            None => pool.auto_release = true,
        }
        if pool.children.is_empty() && pool.auto_release {
            self.pools.remove(&key);
            Self::forget(&space, subnet)
        } else {
            Self::save_meta(pool)
        }
    }

    fn pool_mut(&mut self, id: &str) -> Result<(&mut Pool, Option<IpNet>)> {
        // Requests come in runs on one pool: the last id is checked before the map.
        if self.last_id.as_ref().is_none_or(|(last, _, _)| last != id) {
            let (base, range) = match self.parsed_ids.get(id) {
                Some(parsed) => parsed.clone(),
                None => {
                    let (space, subnet, range) = parse_pool_id(id)?;
                    let parsed = (pool_id(&space, subnet, None), range);
                    self.parsed_ids.insert(id.to_owned(), parsed.clone());
                    parsed
                }
            };
            self.last_id = Some((id.to_owned(), base, range));
        }
        let Some((_, base, range)) = &self.last_id else {
            return Err(Error::internal("pool id cache"));
        };
        let pool = self
            .pools
            .get_mut(base)
            .ok_or_else(|| Error::not_found(format!("pool {id} is not allocated")))?;
        if range.is_some_and(|r| !pool.children.contains(&r)) {
            return Err(Error::not_found(format!("pool {id} is not allocated")));
        }
        Ok((pool, *range))
    }

    /// libnetwork's `RequestAddress`.
    pub fn request_address(&mut self, r: &AddressRequest) -> Result<AllocatedAddress> {
        let (pool, range) = self.pool_mut(&r.pool_id)?;
        let ordinal = match r.preferred {
            Some(ip) => {
                if !pool.subnet.contains(&ip) {
                    return Err(Error::invalid_parameter(format!(
                        "requested address {ip} is out of range of pool {}",
                        pool.subnet
                    )));
                }
                let o = pool.ordinal(ip);
                if pool.reserved().contains(&o) {
                    return Err(Error::forbidden(format!(
                        "address {ip} is reserved in pool {} (network or broadcast address)",
                        pool.subnet
                    )));
                }
                if pool.bits.is_set(o) {
                    return Err(Error::forbidden(format!("address {ip} is already in use")));
                }
                o
            }
            None => {
                let (lo, hi) = match range {
                    Some(r) => (pool.ordinal(r.network()), pool.ordinal(r.broadcast())),
                    None => (0, pool.bits.last()),
                };
                let serial = r.options.get(keys::IPAM_SERIAL) == Some("true");
                let found = match pool.serial_cursor.filter(|_| serial) {
                    Some(cursor) if cursor < hi => pool
                        .bits
                        .first_clear(cursor.max(lo) + 1, hi)
                        .or_else(|| pool.bits.first_clear(lo, hi)),
                    _ => pool.bits.first_clear(lo, hi),
                };
                found.ok_or_else(|| {
                    Error::unavailable(format!("no available addresses on pool {}", r.pool_id))
                })?
            }
        };
        let chunk = pool.bits.set(ordinal);
        if let Some(chunk) = chunk {
            State::save_chunk(pool, chunk)?;
        }
        if r.options.get(keys::IPAM_SERIAL) == Some("true") {
            pool.serial_cursor = Some(ordinal);
            State::save_meta(pool)?;
        }
        let address = IpNet::new(pool.address(ordinal), pool.subnet.prefix_len())
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(AllocatedAddress {
            address,
            meta: Options::new(),
        })
    }

    /// libnetwork's `ReleaseAddress`: releasing a free address is not an error.
    pub fn release_address(&mut self, id: &str, ip: IpAddr) -> Result<()> {
        let (pool, _) = self.pool_mut(id)?;
        if !pool.subnet.contains(&ip) {
            return Err(Error::invalid_parameter(format!(
                "address {ip} is out of range of pool {}",
                pool.subnet
            )));
        }
        let o = pool.ordinal(ip);
        if pool.reserved().contains(&o) {
            return Ok(());
        }
        if let Some(chunk) = pool.bits.clear(o) {
            State::save_chunk(pool, chunk)?;
        }
        Ok(())
    }

    /// How many addresses of pool `id` are in use, reserved ones included.
    #[cfg(test)]
    pub fn in_use(&self, id: &str) -> u128 {
        let (space, subnet, _) = parse_pool_id(id).expect("pool id");
        self.pools[&pool_id(&space, subnet, None)].bits.count()
    }
}

fn allocated(space: &str, subnet: IpNet, range: Option<IpNet>) -> AllocatedPool {
    AllocatedPool {
        pool_id: pool_id(space, subnet, range),
        pool: subnet,
        meta: Options::new(),
    }
}
