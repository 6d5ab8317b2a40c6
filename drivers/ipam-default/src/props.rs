//! Properties of the IPAM, checked on random sequences of calls against a model:
//! no address is handed out twice, a released address can be had again, sub-pools
//! allocate inside their range, overlap between pools is found whichever comes
//! first, and serial allocation moves on and wraps round.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use wnet_sdk::testing::Harness;
use wnet_sdk::{AddressRequest, ErrorKind, IpNet, IpamDriver, Options, PoolRequest, keys};

use crate::{DefaultIpam, LOCAL_SPACE};

#[derive(Debug, Clone)]
enum Op {
    /// Any address, lowest free or (serial) after the last one handed out.
    Any { serial: bool },
    /// This offset into the pool (modulo its size).
    Preferred { offset: u32, serial: bool },
    /// Release this offset (modulo the pool's size).
    Release { offset: u32 },
}

fn ops(size: u32) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => any::<bool>().prop_map(|serial| Op::Any { serial }),
        1 => (0..size, any::<bool>()).prop_map(|(offset, serial)| Op::Preferred { offset, serial }),
        2 => (0..size).prop_map(|offset| Op::Release { offset }),
    ];
    proptest::collection::vec(op, 1..160)
}

fn v4_pool(h: &mut Harness<DefaultIpam>, subnet: IpNet, sub: Option<IpNet>) -> String {
    h.request_pool(PoolRequest {
        address_space: LOCAL_SPACE.into(),
        pool: Some(subnet),
        sub_pool: sub,
        ..Default::default()
    })
    .unwrap()
    .pool_id
}

fn request(
    h: &mut Harness<DefaultIpam>,
    id: &str,
    preferred: Option<IpAddr>,
    serial: bool,
) -> wnet_sdk::Result<IpAddr> {
    let mut options = Options::new();
    if serial {
        options.insert(keys::IPAM_SERIAL, "true");
    }
    h.request_address(AddressRequest {
        pool_id: id.into(),
        preferred,
        options,
    })
    .map(|a| a.address.addr())
}

fn at(base: Ipv4Addr, offset: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(base) + offset))
}

fn offset_of(base: Ipv4Addr, ip: IpAddr) -> u32 {
    let IpAddr::V4(v4) = ip else {
        panic!("an IPv6 address from an IPv4 pool: {ip}")
    };
    u32::from(v4) - u32::from(base)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every answer agrees with a model of the pool: what is free, what is reserved
    /// (network and broadcast), the lowest free for a plain request, the next free
    /// after the last serial one (wrapping round) for a serial request.
    #[test]
    fn allocation_follows_the_model(
        third in 0u8..=255,
        prefix in 26u8..=30,
        script in ops(64),
    ) {
        let base = Ipv4Addr::new(10, 77, third, 0);
        let subnet = IpNet::new(IpAddr::V4(base), prefix).unwrap();
        let size = 1u32 << (32 - prefix);
        let usable = |o: u32| o >= 1 && o < size - 1;
        let mut h = Harness::<DefaultIpam>::new();
        let id = v4_pool(&mut h, subnet, None);
        let mut taken = BTreeSet::new();
        let mut cursor: Option<u32> = None;
        for op in script {
            match op {
                Op::Any { serial } => {
                    let free = |from: u32| (from..size).find(|o| usable(*o) && !taken.contains(o));
                    let want = match cursor.filter(|_| serial) {
                        Some(c) => free(c + 1).or_else(|| free(0)),
                        None => free(0),
                    };
                    match (request(&mut h, &id, None, serial), want) {
                        (Ok(ip), Some(o)) => {
                            prop_assert_eq!(offset_of(base, ip), o, "serial={}", serial);
                            prop_assert!(taken.insert(o), "{} handed out twice", ip);
                            if serial {
                                cursor = Some(o);
                            }
                        }
                        (Err(e), None) => prop_assert_eq!(e.kind, ErrorKind::Unavailable),
                        (got, want) => prop_assert!(false, "got {:?}, the model wants offset {:?}", got, want),
                    }
                }
                Op::Preferred { offset, serial } => {
                    let offset = offset % size;
                    let got = request(&mut h, &id, Some(at(base, offset)), serial);
                    if !usable(offset) || taken.contains(&offset) {
                        prop_assert_eq!(got.unwrap_err().kind, ErrorKind::Forbidden);
                    } else {
                        prop_assert_eq!(got.unwrap(), at(base, offset));
                        taken.insert(offset);
                        if serial {
                            cursor = Some(offset);
                        }
                    }
                }
                Op::Release { offset } => {
                    let offset = offset % size;
                    // Releasing a free or reserved address is not an error (and
                    // leaves a reserved one reserved).
                    let got = h.release_address(&id, at(base, offset));
                    prop_assert!(got.is_ok(), "{:?}", got);
                    taken.remove(&offset);
                }
            }
        }
        // Whatever the history, a released address can be had again by name.
        if let Some(&o) = taken.iter().next() {
            h.release_address(&id, at(base, o)).unwrap();
            prop_assert_eq!(request(&mut h, &id, Some(at(base, o)), false).unwrap(), at(base, o));
        }
    }

    /// Addresses of a sub-pool come from its range, never twice, until it is full;
    /// a sibling sub-pool of the same parent then still has its own.
    #[test]
    fn sub_pools_allocate_inside_their_range(
        second in 0u8..=255,
        parent_prefix in 16u8..=22,
        extra in 2u8..=6,
        pick in any::<u32>(),
    ) {
        let parent = IpNet::new(IpAddr::V4(Ipv4Addr::new(10, second, 0, 0)), parent_prefix)
            .unwrap()
            .trunc();
        let sub_prefix = parent_prefix + extra;
        let subs: Vec<IpNet> = parent.subnets(sub_prefix).unwrap().collect();
        let sub = subs[pick as usize % subs.len()];
        let mut h = Harness::<DefaultIpam>::new();
        let id = v4_pool(&mut h, parent, Some(sub));
        let mut seen = BTreeSet::new();
        loop {
            match request(&mut h, &id, None, false) {
                Ok(ip) => {
                    prop_assert!(sub.contains(&ip), "{} is outside the sub-pool {}", ip, sub);
                    prop_assert!(seen.insert(ip), "{} handed out twice", ip);
                }
                Err(e) => {
                    prop_assert_eq!(e.kind, ErrorKind::Unavailable);
                    break;
                }
            }
        }
        // All of it, less the parent's network and broadcast addresses if they fall
        // inside this range.
        let reserved = [parent.network(), parent.broadcast()]
            .iter()
            .filter(|a| sub.contains(*a))
            .count();
        let range = 1usize << (32 - sub_prefix);
        prop_assert_eq!(seen.len(), range - reserved);
        let sibling = subs[(pick as usize + 1) % subs.len()];
        if sibling != sub {
            let other = v4_pool(&mut h, parent, Some(sibling));
            let ip = request(&mut h, &other, None, false).unwrap();
            prop_assert!(sibling.contains(&ip));
        }
    }

    /// Two static pools of one address space conflict exactly when they overlap,
    /// whichever is asked for first.
    #[test]
    fn overlap_is_found_both_ways(
        a in (any::<u32>(), 8u8..=30),
        b in (any::<u32>(), 8u8..=30),
    ) {
        // Both inside 10.0.0.0/8, so that they overlap often enough to matter.
        let net = |(bits, prefix): (u32, u8)| {
            IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (bits & 0x00ff_ffff))), prefix)
                .unwrap()
                .trunc()
        };
        let (a, b) = (net(a), net(b));
        let overlap = a.contains(&b.network()) || b.contains(&a.network());
        let second = |first: IpNet, then: IpNet| {
            let mut h = Harness::<DefaultIpam>::new();
            v4_pool(&mut h, first, None);
            h.request_pool(PoolRequest {
                address_space: LOCAL_SPACE.into(),
                pool: Some(then),
                ..Default::default()
            })
            .map(drop)
            .map_err(|e| e.kind)
        };
        let ab = second(a, b);
        let ba = second(b, a);
        prop_assert_eq!(ab, ba, "{} then {}, and the other way", a, b);
        if overlap {
            prop_assert_eq!(ab, Err(ErrorKind::Forbidden), "{} and {} overlap", a, b);
        } else {
            prop_assert_eq!(ab, Ok(()), "{} and {} are disjoint", a, b);
        }
    }
}
