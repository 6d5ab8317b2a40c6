//! Network namespaces: created and bind-mounted under a directory (as `ip netns add`
//! does), or adopted from an existing path, entered by a thread only for the span of
//! one synchronous call ([`Namespace::run`]).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::{NetlinkError, Result};

/// A network namespace, held open. Cheap to clone; equal when it is the same kernel
/// namespace.
#[derive(Clone)]
pub struct Namespace(Arc<Inner>);

struct Inner {
    file: File,
    path: PathBuf,
    /// wnet created it (and may remove it); adopted ones are never removed.
    owned: bool,
    inode: u64,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Namespace({}, net:[{}])",
            self.0.path.display(),
            self.0.inode
        )
    }
}

impl PartialEq for Namespace {
    fn eq(&self, other: &Self) -> bool {
        self.0.inode == other.0.inode
    }
}

impl Eq for Namespace {}

fn ns_error(path: &Path, reason: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Namespace {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The kind of namespace an nsfs file is (`CLONE_NEWNET`…), asked of the kernel with
/// `NS_GET_NSTYPE`; `None` when the kernel cannot say.
fn ns_type(file: &File) -> Option<libc::c_int> {
    /// `_IO(NSIO, 0x3)`, from linux/nsfs.h.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor, which is
    // open for as long as `file` is borrowed.
    #[expect(unsafe_code, reason = "an ioctl without arguments")]
    let kind = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(file), NS_GET_NSTYPE) };
    (kind >= 0).then_some(kind)
}

impl Namespace {
    /// The namespace of the calling thread.
    pub fn current() -> Result<Self> {
        Self::open(Path::new("/proc/thread-self/ns/net"), false)
    }

    /// Adopts an existing namespace: `/proc/PID/ns/net`, `/run/netns/NAME`, a bind
    /// mount. Adopted namespaces are never removed by wnet.
    pub fn adopt(path: &Path) -> Result<Self> {
        Self::open_checked(path)
    }

    fn open(path: &Path, owned: bool) -> Result<Self> {
        let file = File::open(path).map_err(|e| ns_error(path, e))?;
        let inode = file.metadata().map_err(|e| ns_error(path, e))?.ino();
        Ok(Namespace(Arc::new(Inner {
            file,
            path: path.to_owned(),
            owned,
            inode,
        })))
    }

    /// Reopens a namespace wnet created earlier (after a restart, say), so it can be
    /// removed again.
    pub(crate) fn reopen_owned(path: &Path) -> Result<Self> {
        let ns = Self::open_checked(path)?;
        Ok(Namespace(Arc::new(Inner {
            file: ns.0.file.try_clone().map_err(|e| ns_error(path, e))?,
            path: path.to_owned(),
            owned: true,
            inode: ns.0.inode,
        })))
    }

    /// Opens `path` and checks that it is a network namespace: a file of the nsfs
    /// filesystem that `setns` accepts as one (tried on a throwaway thread).
    fn open_checked(path: &Path) -> Result<Self> {
        let ns = Self::open(path, false)?;
        let fs = nix::sys::statfs::fstatfs(&ns.0.file).map_err(|e| ns_error(path, e))?;
        let is_nsfs = fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC;
        let is_net = is_nsfs
            && match ns_type(&ns.0.file) {
                Some(kind) => kind == libc::CLONE_NEWNET,
                // A kernel without NS_GET_NSTYPE (before 4.11): try entering it, on a
                // thread of its own.
                None => {
                    let file = ns.0.file.try_clone().map_err(|e| ns_error(path, e))?;
                    std::thread::spawn(move || setns(&file, CloneFlags::CLONE_NEWNET).is_ok())
                        .join()
                        .unwrap_or(false)
                }
            };
        if !is_net {
            return Err(ns_error(path, "not a network namespace"));
        }
        Ok(ns)
    }

    /// Creates a namespace bind-mounted at `dir/name`. `dir` is made a shared mount
    /// point first, as `ip netns` does, so other mount namespaces see new entries.
    pub fn create(dir: &Path, name: &str) -> Result<Self> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(ns_error(
                dir,
                format!("`{name}` is not a valid namespace name"),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| ns_error(dir, e))?;
        make_shared(dir)?;
        let path = dir.join(name);
        File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => ns_error(&path, "already exists"),
                _ => ns_error(&path, e),
            })?;
        let target = path.clone();
        // Only this short-lived thread changes namespace; it exits right after.
        let made = std::thread::spawn(move || -> std::result::Result<(), Errno> {
            unshare(CloneFlags::CLONE_NEWNET)?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        })
        .join()
        .map_err(|_| ns_error(&path, "the namespace thread panicked"))?;
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            return Err(ns_error(&path, format!("cannot create: {e}")));
        }
        Self::open(&path, true).inspect_err(|_| {
            let _ = umount2(&path, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(&path);
        })
    }

    /// Removes a namespace wnet created: its bind mount and file. The kernel tears
    /// down its links once nothing holds it. Adopted namespaces are left alone.
    pub fn remove(&self) -> Result<()> {
        if !self.0.owned {
            return Ok(());
        }
        Self::remove_at(&self.0.path)
    }

    /// Removes the bind mount and file at `path`, whatever is left of them: a
    /// namespace wnet made, or the empty file of one a crash left unmounted.
    pub fn remove_at(path: &Path) -> Result<()> {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(e) => return Err(ns_error(path, format!("cannot unmount: {e}"))),
        }
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ns_error(path, e)),
        }
    }

    /// The namespace's path.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Whether wnet created it.
    pub fn is_owned(&self) -> bool {
        self.0.owned
    }

    /// The kernel's identity of the namespace (its nsfs inode).
    pub fn inode(&self) -> u64 {
        self.0.inode
    }

    /// The open namespace file, for `setns` or `IFLA_NET_NS_FD`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.file.as_fd()
    }

    /// Runs `f` inside the namespace, on the calling thread, and returns its result.
    /// The thread enters the namespace, runs `f` (which cannot yield: nothing else runs
    /// on the thread meanwhile) and goes back to its own namespace, also when `f`
    /// panics. Entering on the caller's thread costs two `setns`; a thread of its own
    /// cost a thread's creation, which a one-shot `wnet` paid at every call.
    pub fn run<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R,
    {
        let home = File::open("/proc/thread-self/ns/net").map_err(|e| {
            ns_error(
                &self.0.path,
                format!("cannot note this thread's namespace: {e}"),
            )
        })?;
        setns(&self.0.file, CloneFlags::CLONE_NEWNET)
            .map_err(|e| ns_error(&self.0.path, format!("cannot enter: {e}")))?;
        let _back = GoBack(home);
        Ok(f())
    }
}

/// Takes the thread back to the namespace it came from when dropped.
struct GoBack(File);

impl Drop for GoBack {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.0, CloneFlags::CLONE_NEWNET) {
            // Work that follows on this thread would touch the wrong namespace's
            // interfaces, routes and firewall: stopping is the only safe answer.
            eprintln!("wnet: cannot return a thread to its network namespace ({e}); aborting");
            std::process::abort();
        }
    }
}

/// Makes `dir` a shared mount point (bind-mounting it on itself first if it is not a
/// mount point), as `ip netns add` does with `/run/netns`.
fn make_shared(dir: &Path) -> Result<()> {
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| ns_error(dir, format!("cannot bind-mount: {e}")))?;
            mount(None::<&str>, dir, None::<&str>, shared, None::<&str>)
                .map_err(|e| ns_error(dir, format!("cannot make shared: {e}")))
        }
        Err(e) => Err(ns_error(dir, format!("cannot make shared: {e}"))),
    }
}

/// Moves the calling process into new, private network and mount namespaces, with
/// `/` made private and a fresh tmpfs on `/run`: from then on nothing it does to
/// links, addresses, routes or namespace files reaches the machine. For test and
/// benchmark processes; must be called before the process starts any thread.
pub fn isolate_process() -> Result<()> {
    let root = Path::new("/");
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET).map_err(|e| {
        ns_error(
            root,
            format!("cannot unshare (this needs root, and no other thread yet): {e}"),
        )
    })?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| ns_error(root, format!("cannot make / private: {e}")))?;
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| {
        ns_error(
            Path::new("/run"),
            format!("cannot mount a private tmpfs: {e}"),
        )
    })?;
    Ok(())
}
