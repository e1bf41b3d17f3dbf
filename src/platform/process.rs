//! This process's memory and CPU, read from `/proc` (Linux; other systems report `None`).

use std::{
    sync::Mutex,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessStats {
    pub rss_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub threads: Option<u64>,
    pub open_fds: Option<u64>,
    pub start_time_secs: Option<f64>,
}

fn page_size() -> u64 {
    4096
}

fn clock_ticks() -> f64 {
    100.0
}

/// Everything below, plus open file descriptors (for `/metrics`).
pub fn stats() -> ProcessStats {
    let (virtual_bytes, rss_bytes) = memory();
    let (cpu_seconds, threads, start_time_secs) = stat();
    ProcessStats {
        rss_bytes,
        virtual_bytes,
        cpu_seconds,
        threads,
        start_time_secs,
        open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
    }
}

/// Resident set size alone (one small read; the health check asks on every probe).
pub fn rss_bytes() -> Option<u64> {
    memory().1
}

/// (virtual, resident) bytes from `/proc/self/statm`.
fn memory() -> (Option<u64>, Option<u64>) {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return (None, None) };
    let mut pages =
        statm.split_whitespace().map(|v| v.parse::<u64>().ok().map(|p| p * page_size()));
    (pages.next().flatten(), pages.next().flatten())
}

/// (CPU seconds, threads, start time) from `/proc/self/stat`.
fn stat() -> (Option<f64>, Option<u64>, Option<f64>) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return (None, None, None) };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some((_, rest)) = stat.rsplit_once(')') else { return (None, None, None) };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); utime=14, stime=15, num_threads=20, starttime=22.
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = field(14).zip(field(15)).map(|(u, s)| (u + s) / clock_ticks());
    let start = field(22).zip(boot_time()).map(|(start, boot)| boot + start / clock_ticks());
    (cpu, field(20).map(|t| t as u64), start)
}

/// Boot time never changes: `/proc/stat` (large, with a line per CPU) is read once.
fn boot_time() -> Option<f64> {
    static BOOT: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
    })
}

/// CPU use as a percentage of one core (200 = two cores busy), over windows of at least
/// [`CPU_WINDOW`]: probes closer together than that get the last window's figure, so a burst
/// of probes neither reads `/proc` each time nor divides by a few microseconds.
pub struct CpuSampler {
    last: Mutex<Sample>,
}

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    cpu: Option<f64>,
    percent: f64,
}

pub const CPU_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for CpuSampler {
    fn default() -> Self {
        CpuSampler { last: Mutex::new(Sample { at: Instant::now(), cpu: stat().0, percent: 0.0 }) }
    }
}

impl CpuSampler {
    pub fn sample(&self) -> Option<f64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let wall = now.duration_since(last.at);
        if wall < CPU_WINDOW {
            return last.cpu.map(|_| last.percent);
        }
        let cpu = stat().0?;
        let percent = last
            .cpu
            .map(|prev| ((cpu - prev) / wall.as_secs_f64() * 100.0).max(0.0))
            .unwrap_or(0.0);
        *last = Sample { at: now, cpu: Some(cpu), percent };
        Some(percent)
    }
}

pub fn unix_now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_own_process() {
        let s = super::stats();
        assert!(s.rss_bytes.unwrap() > 0);
        assert!(s.threads.unwrap() >= 1);
        assert!(s.open_fds.unwrap() >= 3);
        assert!(s.start_time_secs.unwrap() > 0.0);
        assert!(super::rss_bytes().unwrap() > 0);
    }
}
