//! Child processes of the sandbox (extensions and an external runtime): each runs in its own
//! process group so it can be frozen (SIGSTOP/SIGCONT) and killed as a whole; it is reaped with
//! `wait4` so its exit status, peak RSS and CPU time are exact.

use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (_, Some(s)) => write!(f, "signal {s}"),
            _ => write!(f, "unknown"),
        }
    }
}

/// Exit information collected by `wait4`.
#[derive(Debug, Clone)]
pub struct ExitInfo {
    /// Status.
    pub status: ExitStatus,
    /// When the exit was observed.
    pub at: Instant,
    /// Peak resident set size in KiB: the highest VmHWM read from /proc while the process ran. (`wait4`'s
    /// `ru_maxrss` would count the simulator's own pages, mapped into the child between fork and exec.)
    pub max_rss_kb: u64,
    /// User + system CPU time.
    pub cpu: Duration,
}

/// A running (or finished) child process that leads its own process group.
pub struct Proc {
    /// Process id (also the process group id).
    pub pid: i32,
    /// When it was started.
    pub started: Instant,
    exit: Arc<Mutex<Option<ExitInfo>>>,
    exited: watch::Receiver<bool>,
    pipes: Vec<Arc<Pipe>>,
    watch: Arc<Watch>,
}

/// What the reaper needs to know to read the peak RSS only when it can still change: the group runs, is held
/// stopped (SIGSTOP), or is expected to exit soon (shutdown, a kill).
struct Watch {
    mode: AtomicU8,
    /// The peak read just before the simulator killed the process.
    peak_before_kill_kb: AtomicU64,
}

const RUNNING: u8 = 0;
const FROZEN: u8 = 1;
const EXITING: u8 = 2;

/// Starts `program` with exactly `env`, in a new process group, forwarding each output line to
/// `on_line(line, is_stderr)` and calling `on_exit` once it has been reaped.
pub fn spawn(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    cwd: Option<&Path>,
    on_line: Arc<dyn Fn(String, bool) + Send + Sync>,
    on_exit: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<Proc> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child if the
    // simulator dies, so no orphaned extension outlives a crashed test.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let started = Instant::now();
    // Each pump says when its stream ended, so the exit is announced only after the last lines.
    let (pumped_tx, pumped_rx) = std::sync::mpsc::channel::<()>();
    let mut pipes = Vec::new();
    if let Some(out) = child.stdout.take() {
        pipes.push(pump(
            std::fs::File::from(std::os::fd::OwnedFd::from(out)),
            false,
            on_line.clone(),
            pumped_tx.clone(),
        )?);
    }
    if let Some(err) = child.stderr.take() {
        pipes.push(pump(std::fs::File::from(std::os::fd::OwnedFd::from(err)), true, on_line, pumped_tx)?);
    }
    let pumps = pipes.len();
    // The std Child is dropped without waiting: the reaper thread below owns the pid.
    drop(child);
    let exit = Arc::new(Mutex::new(None));
    let (tx, rx) = watch::channel(false);
    let slot = exit.clone();
    let watch = Arc::new(Watch { mode: AtomicU8::new(RUNNING), peak_before_kill_kb: AtomicU64::new(0) });
    let reaper_watch = watch.clone();
    std::thread::Builder::new().name(format!("reap-{pid}")).spawn(move || {
        let info = reap(pid, &reaper_watch);
        // A line written just before exit is still in the pipe: let the pumps deliver it. A grandchild
        // holding the pipe open must not delay the exit for long.
        let until = Instant::now() + Duration::from_millis(500);
        for _ in 0..pumps {
            if pumped_rx.recv_timeout(until.saturating_duration_since(Instant::now())).is_err() {
                break;
            }
        }
        *slot.lock().unwrap() = Some(info);
        tx.send_replace(true);
        on_exit();
    })?;
    Ok(Proc { pid, started, exit, exited: rx, pipes, watch })
}

/// One output pipe of a child. Its reader thread and [`Proc::drain_output`] take turns under the lock, so
/// a drain delivers every complete line written before it, in order, before it returns.
struct Pipe {
    is_stderr: bool,
    on_line: Arc<dyn Fn(String, bool) + Send + Sync>,
    state: Mutex<PipeState>,
}

struct PipeState {
    /// The read end (non-blocking); `None` once the reader thread is done with it. Only that thread closes
    /// it, so the descriptor it polls is never closed (or reused) under it.
    file: Option<std::fs::File>,
    /// The writer closed the pipe (or reading failed).
    ended: bool,
    /// The start of a line whose newline has not come yet.
    partial: Vec<u8>,
}

impl Pipe {
    /// Reads what the pipe holds now and delivers its complete lines; false once the pipe is closed.
    fn read_available(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        let mut chunk = [0u8; 8192];
        loop {
            if state.ended {
                return false;
            }
            let Some(file) = state.file.as_mut() else { return false };
            match file.read(&mut chunk) {
                Ok(0) => {
                    // As `BufRead::lines`: a last line without a newline is a line too.
                    let rest = std::mem::take(&mut state.partial);
                    if !rest.is_empty() {
                        self.deliver(&rest);
                    }
                    state.ended = true;
                    return false;
                }
                Ok(n) => {
                    state.partial.extend_from_slice(&chunk[..n]);
                    while let Some(end) = state.partial.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = state.partial.drain(..=end).collect();
                        self.deliver(&line[..end]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    state.ended = true;
                    return false;
                }
            }
        }
    }

    fn deliver(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (self.on_line)(String::from_utf8_lossy(line).into_owned(), self.is_stderr);
    }
}

fn pump(
    file: std::fs::File,
    is_stderr: bool,
    on_line: Arc<dyn Fn(String, bool) + Send + Sync>,
    done: std::sync::mpsc::Sender<()>,
) -> std::io::Result<Arc<Pipe>> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; only the read end (our side) becomes non-blocking.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let pipe = Arc::new(Pipe {
        is_stderr,
        on_line,
        state: Mutex::new(PipeState { file: Some(file), partial: Vec::new(), ended: false }),
    });
    let reader = pipe.clone();
    std::thread::spawn(move || {
        loop {
            // Wait without the lock, so that a drain is never held up by an idle pipe. The descriptor stays
            // open until this thread sees the end: only `read_available` here closes it.
            let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut poll, 1, -1) };
            if r < 0 && std::io::Error::last_os_error().kind() != ErrorKind::Interrupted {
                break;
            }
            if !reader.read_available() {
                break;
            }
        }
        reader.state.lock().unwrap().file = None;
        let _ = done.send(());
    });
    Ok(pipe)
}

fn reap(pid: i32, watch: &Watch) -> ExitInfo {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // Exit is noticed at once through a pidfd; without one (kernels before 5.3), by polling.
    // SAFETY: pidfd_open on our own child; the descriptor is closed below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    let mut peak_kb = 0;
    let mut read_while_frozen = false;
    loop {
        // VmHWM is a high-water mark, gone once the process is a zombie: reading it now and then while the
        // process lives and often once it is about to exit loses nothing, where reading every 2 ms made a
        // fleet of hundreds of sandboxes cost the host more than the sandboxes themselves. A stopped process
        // cannot grow: one read once it is frozen is enough.
        let mode = watch.mode.load(Ordering::Relaxed);
        if !(mode == FROZEN && read_while_frozen) {
            peak_kb = peak_kb.max(vm_hwm_kb(pid).unwrap_or(0));
        }
        read_while_frozen = mode == FROZEN;
        // SAFETY: waiting on our own child pid with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if r == 0 {
            let interval_ms = if mode == EXITING { 2 } else { 50 };
            if pidfd >= 0 {
                let mut poll = libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd; readable once the process has exited.
                unsafe { libc::poll(&mut poll, 1, interval_ms) };
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
            continue;
        }
        if r == -1 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            if pidfd >= 0 {
                // SAFETY: closing the descriptor opened above, once.
                unsafe { libc::close(pidfd) };
            }
            return ExitInfo {
                status: ExitStatus { code: None, signal: None },
                at: Instant::now(),
                max_rss_kb: 0,
                cpu: Duration::ZERO,
            };
        }
    }
    if pidfd >= 0 {
        // SAFETY: closing the descriptor opened above, once.
        unsafe { libc::close(pidfd) };
    }
    let peak_kb = peak_kb.max(watch.peak_before_kill_kb.load(Ordering::Relaxed));
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let st = if libc::WIFEXITED(status) {
        ExitStatus { code: Some(libc::WEXITSTATUS(status)), signal: None }
    } else if libc::WIFSIGNALED(status) {
        ExitStatus { code: None, signal: Some(libc::WTERMSIG(status)) }
    } else {
        ExitStatus { code: None, signal: None }
    };
    ExitInfo { status: st, at: Instant::now(), max_rss_kb: peak_kb, cpu: tv(ru.ru_utime) + tv(ru.ru_stime) }
}

/// VmHWM (peak resident set size since exec) of a live process, in KiB.
fn vm_hwm_kb(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

impl Proc {
    /// Sends `sig` to the whole process group.
    pub fn signal(&self, sig: i32) {
        match sig {
            libc::SIGSTOP => self.watch.mode.store(FROZEN, Ordering::Relaxed),
            libc::SIGCONT => self.watch.mode.store(RUNNING, Ordering::Relaxed),
            libc::SIGKILL => {
                let peak = vm_hwm_kb(self.pid).unwrap_or(0);
                self.watch.peak_before_kill_kb.fetch_max(peak, Ordering::Relaxed);
                self.watch.mode.store(EXITING, Ordering::Relaxed);
            }
            _ => self.watch.mode.store(EXITING, Ordering::Relaxed),
        }
        if self.exit_info().is_none() {
            // SAFETY: signalling our own child's process group.
            unsafe {
                libc::kill(-self.pid, sig);
            }
        }
    }

    /// Tells the reaper the process is about to exit (its shutdown has begun), so that the peak it reads
    /// stays exact to the end.
    pub fn expect_exit(&self) {
        self.watch.mode.store(EXITING, Ordering::Relaxed);
    }

    /// Exit information, once the process has been reaped.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit.lock().unwrap().clone()
    }

    /// Waits for the exit up to `timeout`; true if it exited.
    pub async fn wait_exit(&self, timeout: Duration) -> bool {
        let mut rx = self.exited.clone();
        let ok = tokio::time::timeout(timeout, rx.wait_for(|e| *e)).await.is_ok();
        ok
    }

    /// Waits until the process is in the stopped state (or has exited), up to `timeout`.
    pub async fn wait_stopped(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            match proc_state(self.pid) {
                Some('T') | Some('t') | None => return true,
                _ if self.exit_info().is_some() => return true,
                _ if Instant::now() >= end => return false,
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }

    /// Delivers, before returning, every complete output line the process wrote before this call (the
    /// reader threads would deliver them a moment later): Lambda orders a function's output before the
    /// event that ends its invocation.
    pub fn drain_output(&self) {
        for pipe in &self.pipes {
            pipe.read_available();
        }
    }

    /// A receiver that turns true once the process has been reaped.
    pub fn exit_flag(&self) -> watch::Receiver<bool> {
        self.exited.clone()
    }

    /// Current peak RSS (VmHWM) in KiB from /proc, or the final figure after exit.
    pub fn peak_rss_kb(&self) -> u64 {
        if let Some(e) = self.exit_info() {
            return e.max_rss_kb;
        }
        vm_hwm_kb(self.pid).unwrap_or(0)
    }
}

/// The state letter of /proc/PID/stat (`R`, `S`, `T`, `Z`...), if the process exists.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// Checks that `path` is an executable regular file.
pub fn check_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("not executable (chmod +x it)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines = Arc<Mutex<Vec<(String, bool)>>>;

    fn run(script: &str) -> (Proc, Lines) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let p = spawn(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            &[("PATH".into(), "/usr/bin:/bin".into())],
            None,
            Arc::new(move |line, err| l.lock().unwrap().push((line, err))),
            Arc::new(|| {}),
        )
        .unwrap();
        (p, lines)
    }

    #[tokio::test]
    async fn the_last_lines_before_exit_are_delivered_before_the_exit_is_announced() {
        let (p, lines) = run("i=0; while [ $i -lt 500 ]; do echo line $i >&2; i=$((i+1)); done; echo last");
        assert!(p.wait_exit(Duration::from_secs(10)).await);
        let lines = lines.lock().unwrap().clone();
        assert_eq!(lines.len(), 501);
        assert!(lines.contains(&("last".to_string(), false)));
        assert!(lines.contains(&("line 499".to_string(), true)));
    }

    #[tokio::test]
    async fn the_peak_of_a_process_killed_between_readings_is_read_before_the_kill() {
        // 64 MiB touched, then asleep: the reaper reads the peak only every 50 ms while a process runs, so
        // the kill itself must read it.
        let (p, lines) = run(
            "exec python3 -c 'import sys, time\nb = bytearray(64 << 20)\nprint(\"ready\", flush=True)\ntime.sleep(30)'",
        );
        for _ in 0..500 {
            if !lines.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(lines.lock().unwrap().clone(), vec![("ready".to_string(), false)]);
        p.signal(libc::SIGKILL);
        assert!(p.wait_exit(Duration::from_secs(5)).await);
        let info = p.exit_info().unwrap();
        assert_eq!(info.status.signal, Some(libc::SIGKILL));
        assert!(info.max_rss_kb >= 64 * 1024, "{info:?}");
    }

    #[tokio::test]
    async fn captures_output_and_exit_code() {
        let (p, lines) = run("echo out; echo err >&2; exit 3");
        assert!(p.wait_exit(Duration::from_secs(5)).await);
        assert_eq!(p.exit_info().unwrap().status, ExitStatus { code: Some(3), signal: None });
        // Output threads may trail the reaper slightly.
        for _ in 0..100 {
            if lines.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut got = lines.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, vec![("err".to_string(), true), ("out".to_string(), false)]);
    }

    #[tokio::test]
    async fn sigkill_reports_the_signal() {
        let (p, _) = run("sleep 30");
        assert!(!p.wait_exit(Duration::from_millis(50)).await);
        p.signal(libc::SIGKILL);
        assert!(p.wait_exit(Duration::from_secs(5)).await);
        assert_eq!(p.exit_info().unwrap().status.signal, Some(libc::SIGKILL));
    }

    #[test]
    fn check_executable_rejects_missing_and_plain_files() {
        assert_eq!(
            check_executable(Path::new("/nonexistent/ext")).unwrap_err(),
            "No such file or directory (os error 2)"
        );
        assert_eq!(check_executable(Path::new("/")).unwrap_err(), "not a regular file");
        let f = std::env::temp_dir().join(format!("lambdatel-sim-noexec-{}", std::process::id()));
        std::fs::write(&f, "x").unwrap();
        assert!(check_executable(&f).unwrap_err().contains("not executable"));
        std::fs::remove_file(&f).unwrap();
        assert!(check_executable(Path::new("/bin/sh")).is_ok());
    }
}
