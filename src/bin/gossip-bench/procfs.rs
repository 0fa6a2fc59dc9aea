//! Figures of running processes from Linux's `/proc`.

use std::fs;
use std::process::Command;

/// Which process to read: this one or another by pid.
#[derive(Clone, Copy, Debug)]
pub enum Proc {
    /// The benchmark process itself (all its threads).
    Me,
    /// Another process.
    Pid(u32),
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Me => format!("/proc/self/{file}"),
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// User plus system CPU time so far, in clock ticks (`/proc/PID/stat`
    /// fields 14 and 15); `None` once the process is gone.
    pub fn cpu_ticks(self) -> Option<u64> {
        let stat = fs::read_to_string(self.path("stat")).ok()?;
        // The command name (field 2) may contain spaces: count from its ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // fields[0] is field 3 (state), so fields 14 and 15 are [11] and [12].
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    /// One numeric field of `/proc/PID/status` (e.g. `VmHWM` in kB, `Threads`).
    pub fn status_field(self, key: &str) -> Option<u64> {
        let status = fs::read_to_string(self.path("status")).ok()?;
        status.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            value.split_whitespace().next()?.parse().ok()
        })
    }
}

/// Clock ticks per second (`getconf CLK_TCK`); 100, Linux's value on every
/// common architecture, when `getconf` cannot be run.
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_figures() {
        assert!(Proc::Me.cpu_ticks().is_some());
        assert!(Proc::Me.status_field("Threads").unwrap() >= 1);
        assert!(Proc::Me.status_field("VmHWM").unwrap() > 0);
        assert!(clock_ticks_per_second() > 0);
    }
}
