//! A small Prometheus registry owned by the application state (not a process global, so several
//! apps in one test process keep separate counts). Rendered by `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
    help: BTreeMap<&'static str, &'static str>,
}

#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Registry>>);

impl Metrics {
    pub fn inc(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) {
        let mut r = self.0.lock().expect("metrics lock");
        r.help.insert(name, help);
        *r.counters.entry((name, own(labels))).or_default() += 1;
    }

    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        seconds: f64,
    ) {
        let mut r = self.0.lock().expect("metrics lock");
        r.help.insert(name, help);
        let h = r.histograms.entry((name, own(labels))).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The current value of a counter (tests and health pages).
    pub fn counter(&self, name: &str, labels: &[(&'static str, &str)]) -> u64 {
        let r = self.0.lock().expect("metrics lock");
        r.counters
            .iter()
            .find(|((n, l), _)| *n == name && *l == own(labels))
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let r = self.0.lock().expect("metrics lock");
        let mut out = String::new();
        let mut last = "";
        for ((name, labels), value) in &r.counters {
            if *name != last {
                let _ = writeln!(
                    out,
                    "# HELP {name} {}\n# TYPE {name} counter",
                    r.help.get(name).unwrap_or(&"")
                );
                last = name;
            }
            let _ = writeln!(out, "{name}{} {value}", fmt_labels(labels, None));
        }
        last = "";
        for ((name, labels), h) in &r.histograms {
            if *name != last {
                let _ = writeln!(
                    out,
                    "# HELP {name} {}\n# TYPE {name} histogram",
                    r.help.get(name).unwrap_or(&"")
                );
                last = name;
            }
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    fmt_labels(labels, Some(&bound.to_string())),
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                fmt_labels(labels, Some("+Inf")),
                h.count
            );
            let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(labels, None), h.sum);
            let _ = writeln!(out, "{name}_count{} {}", fmt_labels(labels, None), h.count);
        }
        out
    }
}

fn own(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_prometheus_text_format() {
        let m = Metrics::default();
        m.inc(
            "http_requests_total",
            "Requests.",
            &[("route", "/healthz"), ("status", "200")],
        );
        m.inc(
            "http_requests_total",
            "Requests.",
            &[("route", "/healthz"), ("status", "200")],
        );
        m.observe(
            "http_request_duration_seconds",
            "Latency.",
            &[("route", "/healthz")],
            0.003,
        );
        let text = m.render();
        assert!(text.contains("# TYPE http_requests_total counter"));
        assert!(text.contains("http_requests_total{route=\"/healthz\",status=\"200\"} 2"));
        assert!(text
            .contains("http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1"));
        assert!(text
            .contains("http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0025\"} 0"));
        assert!(text.contains("http_request_duration_seconds_count{route=\"/healthz\"} 1"));
    }
}
