//! The nftables requests on wnet's hot path, sent over nfnetlink without `nft`:
//! adding or deleting elements of a set or map, in one batch (one kernel transaction),
//! and asking whether wnet's table exists.
//! An `nft` run costs ≈5 ms to add one element and 10–25 ms to delete one here (the
//! program starts and builds its cache); this costs tens of microseconds
//! (`shared/reference/nftables-notes.md`). Everything else — the table, its sets and
//! rules — stays with `nft`, where it is rare.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_INET: u8 = 1;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 0x2;
const NLA_F_NESTED: u16 = 0x8000;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFT_MSG_GETTABLE: u16 = 1;
const NFTA_TABLE_NAME: u16 = 1;

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The first of `count` consecutive sequence numbers, unique in this process.
fn sequence(count: u32) -> u32 {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    SEQ.fetch_add(count, std::sync::atomic::Ordering::Relaxed)
}

/// What to do with the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Add them (an element already there is left as it is).
    Add,
    /// Delete them (by key).
    Delete,
}

/// One element: its key and, in a map, its value; each already in the kernel's layout
/// (every field of a concatenation padded to 4 bytes).
pub(crate) type Element = (Vec<u8>, Option<Vec<u8>>);

fn attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

fn nested(buf: &mut Vec<u8>, ty: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    attr(buf, ty | NLA_F_NESTED, &inner);
}

fn message(
    buf: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) {
    let len = 16 + 4 + attrs.len();
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.push(family);
    buf.push(0); // NFNETLINK_V0
    buf.extend_from_slice(&res_id.to_be_bytes());
    buf.extend_from_slice(attrs);
}

/// One request of a batch: what to do with which elements of which set.
pub(crate) type Request<'a> = (Op, &'a str, &'a [Element]);

/// The batch: begin, each element request (acknowledged), end.
fn batch(table: &str, requests: &[Request<'_>], seq: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    message(
        &mut buf,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    for (i, (op, set, elements)) in requests.iter().enumerate() {
        let mut attrs = Vec::new();
        attr(&mut attrs, NFTA_SET_ELEM_LIST_TABLE, &cstr(table));
        attr(&mut attrs, NFTA_SET_ELEM_LIST_SET, &cstr(set));
        nested(&mut attrs, NFTA_SET_ELEM_LIST_ELEMENTS, |list| {
            for (key, data) in elements.iter() {
                nested(list, NFTA_LIST_ELEM, |elem| {
                    nested(elem, NFTA_SET_ELEM_KEY, |k| attr(k, NFTA_DATA_VALUE, key));
                    if let (Op::Add, Some(data)) = (op, data) {
                        nested(elem, NFTA_SET_ELEM_DATA, |d| attr(d, NFTA_DATA_VALUE, data));
                    }
                });
            }
        });
        let (ty, flags) = match op {
            Op::Add => (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE),
            Op::Delete => (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK),
        };
        message(
            &mut buf,
            (NFNL_SUBSYS_NFTABLES << 8) | ty,
            flags,
            seq + 1 + i as u32,
            NFPROTO_INET,
            0,
            &attrs,
        );
    }
    let end = seq + 1 + requests.len() as u32;
    message(
        &mut buf,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        end,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    buf
}

/// A netfilter netlink socket in the calling thread's network namespace.
pub(crate) fn socket() -> io::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, sockopt};
    let fd = nix::sys::socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )?;
    setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(2, 0),
    )?;
    Ok(fd)
}

/// Sends `requests` on sets of table `inet table` as one transaction: all of them or
/// none; waits for the kernel's answer to each. An error is the kernel's errno
/// (`NotFound` for a table, set or element that is not there).
pub(crate) fn set_elements(fd: &OwnedFd, table: &str, requests: &[Request<'_>]) -> io::Result<()> {
    let requests: Vec<Request<'_>> = requests
        .iter()
        .copied()
        .filter(|(_, _, e)| !e.is_empty())
        .collect();
    if requests.is_empty() {
        return Ok(());
    }
    let seq = sequence(requests.len() as u32 + 2);
    let buf = batch(table, &requests, seq);
    nix::sys::socket::send(fd.as_raw_fd(), &buf, nix::sys::socket::MsgFlags::empty())?;
    acks(fd, requests.len(), |errno| match errno {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(-e)),
    })
}

/// The request asking for table `inet table`.
fn get_table(table: &str, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    attr(&mut attrs, NFTA_TABLE_NAME, &cstr(table));
    let mut buf = Vec::new();
    message(
        &mut buf,
        (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        NFPROTO_INET,
        0,
        &attrs,
    );
    buf
}

/// Whether table `inet table` exists: one request and its answer, tens of
/// microseconds where an `nft` run that finds out by failing costs milliseconds.
pub(crate) fn table_exists(fd: &OwnedFd, table: &str) -> io::Result<bool> {
    let buf = get_table(table, sequence(1));
    nix::sys::socket::send(fd.as_raw_fd(), &buf, nix::sys::socket::MsgFlags::empty())?;
    let mut exists = false;
    acks(fd, 1, |errno| match errno {
        0 => {
            exists = true;
            Ok(())
        }
        e if -e == libc::ENOENT => Ok(()),
        e => Err(io::Error::from_raw_os_error(-e)),
    })?;
    Ok(exists)
}

/// Reads the kernel's answers until `count` acknowledgements (error messages, errno 0
/// for success) have come, handing each errno to `each`; other messages (a table
/// asked for) are skipped.
fn acks(fd: &OwnedFd, count: usize, mut each: impl FnMut(i32) -> io::Result<()>) -> io::Result<()> {
    let mut acked = 0;
    let mut reply = vec![0u8; 8192];
    while acked < count {
        let n = nix::sys::socket::recv(
            fd.as_raw_fd(),
            &mut reply,
            nix::sys::socket::MsgFlags::empty(),
        )?;
        let mut at = 0usize;
        while at + 16 <= n {
            let word = |o: usize| {
                let mut w = [0u8; 4];
                w.copy_from_slice(&reply[at + o..at + o + 4]);
                w
            };
            let len = u32::from_ne_bytes(word(0)) as usize;
            let ty = u16::from_ne_bytes([reply[at + 4], reply[at + 5]]);
            if len < 16 || at + len > n {
                break;
            }
            if ty == NLMSG_ERROR && len >= 20 {
                each(i32::from_ne_bytes(word(16)))?;
                acked += 1;
            }
            at += len.next_multiple_of(4);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_as_netlink_wants() {
        let elements = [(
            vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0],
            Some(vec![10, 88, 0, 2, 0, 80, 0, 0]),
        )];
        let b = batch("wnet", &[(Op::Add, "pub4", &elements)], 7);
        // Three messages; the first is the batch begin for the nftables subsystem.
        let len0 = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
        assert_eq!(len0, 20);
        assert_eq!(
            u16::from_ne_bytes(b[4..6].try_into().unwrap()),
            NFNL_MSG_BATCH_BEGIN
        );
        assert_eq!(&b[18..20], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
        let len1 = u32::from_ne_bytes(b[20..24].try_into().unwrap()) as usize;
        assert_eq!(len1 % 4, 0);
        assert_eq!(
            u16::from_ne_bytes(b[24..26].try_into().unwrap()),
            (10 << 8) | 12
        );
        assert_eq!(b.len(), 20 + len1 + 20);
        // The table's name, NUL-terminated and padded: "wnet\0" in an 12-byte attribute.
        assert_eq!(&b[40..42], &9u16.to_ne_bytes());
        assert_eq!(&b[44..49], b"wnet\0");
    }

    #[test]
    fn a_table_is_asked_for_by_family_and_name_with_an_ack() {
        let b = get_table("wnet", 9);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u16::from_ne_bytes(b[4..6].try_into().unwrap()), 10 << 8 | 1);
        assert_eq!(
            u16::from_ne_bytes(b[6..8].try_into().unwrap()),
            NLM_F_REQUEST | NLM_F_ACK
        );
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 9);
        assert_eq!(b[16], NFPROTO_INET);
        assert_eq!(&b[20..22], &9u16.to_ne_bytes());
        assert_eq!(&b[22..24], &NFTA_TABLE_NAME.to_ne_bytes());
        assert_eq!(&b[24..29], b"wnet\0");
        assert_eq!(b.len(), 32);
    }
}
