//! `--nproc-per-node N`: starts this program N times on this node with torchrun's variables
//! (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`) and
//! waits. The first rank that fails ends the others (SIGTERM, then SIGKILL after a grace
//! period), and the error names it; a rank never outlives the launcher (PR_SET_PDEATHSIG).

use nnunet_core::{Error, Result};
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How long the other ranks get to stop after SIGTERM.
const GRACE: Duration = Duration::from_secs(10);

/// Runs `program args` as `nproc` ranks and waits for all of them.
pub fn launch(nproc: usize, program: &Path, args: &[OsString]) -> Result<()> {
    if nproc == 0 {
        return Err(Error::Invalid("--nproc-per-node must be at least 1".into()));
    }
    let addr = std::env::var("MASTER_ADDR").unwrap_or_else(|_| "127.0.0.1".into());
    let port = match std::env::var("MASTER_PORT") {
        Ok(p) => p,
        Err(_) => free_port()?.to_string(),
    };
    let mut children: Vec<Option<Child>> = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("LOCAL_WORLD_SIZE", nproc.to_string())
            .env("MASTER_ADDR", &addr)
            .env("MASTER_PORT", &port);
        // SAFETY: prctl only, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        match command.spawn() {
            Ok(child) => {
                eprintln!("nnunet: rank {rank}: pid {}", child.id());
                children.push(Some(child));
            }
            Err(e) => {
                stop(&mut children);
                return Err(Error::Invalid(format!(
                    "rank {rank}: cannot start {}: {e}",
                    program.display()
                )));
            }
        }
    }
    wait_all(&mut children)
}

/// Polls until every rank succeeded, or one failed (then stops the rest).
fn wait_all(children: &mut [Option<Child>]) -> Result<()> {
    loop {
        let mut failed = Vec::new();
        for (rank, slot) in children.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            match child.try_wait() {
                Ok(Some(status)) => {
                    *slot = None;
                    if !status.success() {
                        failed.push((rank, status));
                    }
                }
                Ok(None) => {}
                Err(e) => failed.push((rank, ExitStatus::from_raw(e.raw_os_error().unwrap_or(1)))),
            }
        }
        if !failed.is_empty() {
            let stopped: Vec<usize> = (0..children.len())
                .filter(|&r| children[r].is_some())
                .collect();
            stop(children);
            // a rank killed by a signal is the cause; the others' collective errors follow
            failed.sort_by_key(|(rank, status)| (status.signal().is_none(), *rank));
            let what: Vec<String> = failed
                .iter()
                .map(|(rank, status)| format!("rank {rank} {}", describe(status)))
                .collect();
            return Err(Error::Invalid(format!(
                "data-parallel training failed: {}{}",
                what.join("; "),
                if stopped.is_empty() {
                    String::new()
                } else {
                    format!("; stopped rank(s) {stopped:?}")
                }
            )));
        }
        if children.iter().all(Option::is_none) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (_, Some(signal)) => format!("was killed by signal {signal}"),
        (Some(code), None) => format!("exited with status {code}"),
        _ => format!("ended ({status})"),
    }
}

/// SIGTERM to every running rank, SIGKILL to those still running after [`GRACE`].
fn stop(children: &mut [Option<Child>]) {
    for child in children.iter().flatten() {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    }
    let started = Instant::now();
    while started.elapsed() < GRACE {
        for slot in children.iter_mut() {
            if let Some(child) = slot
                && matches!(child.try_wait(), Ok(Some(_)))
            {
                *slot = None;
            }
        }
        if children.iter().all(Option::is_none) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for child in children.iter_mut().flatten() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A port the kernel says is free on the loopback (torchrun --standalone does the same).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Invalid(format!("cannot find a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Invalid(format!("cannot find a free port: {e}")))
}

/// `args` without `--nproc-per-node N` / `--nproc-per-node=N` (what each rank runs).
pub fn without_nproc_flag(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut skip_next = false;
    for arg in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        match arg.to_str() {
            Some("--nproc-per-node") => skip_next = true,
            Some(a) if a.starts_with("--nproc-per-node=") => {}
            _ => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_launcher_flag() {
        let args: Vec<OsString> = [
            "train",
            "--nproc-per-node",
            "2",
            "-d",
            "4",
            "--nproc-per-node=3",
        ]
        .map(OsString::from)
        .to_vec();
        assert_eq!(
            without_nproc_flag(&args),
            ["train", "-d", "4"].map(OsString::from).to_vec()
        );
    }

    #[test]
    fn a_failing_rank_stops_the_others_and_is_named() {
        let sh = Path::new("/bin/sh");
        let args = ["-c", r#"if [ "$RANK" = 1 ]; then exit 3; fi; sleep 30"#].map(OsString::from);
        let started = Instant::now();
        let err = launch(3, sh, &args).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(20), "{err}");
        assert!(err.contains("rank 1 exited with status 3"), "{err}");
        assert!(err.contains("stopped rank(s) [0, 2]"), "{err}");
        launch(
            2,
            sh,
            &["-c", "test $WORLD_SIZE = 2 -a -n \"$MASTER_PORT\""].map(OsString::from),
        )
        .unwrap();
    }
}
