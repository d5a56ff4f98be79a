//! OpenMetrics text → Prometheus text format 0.0.4.
//!
//! `prometheus-client` writes only OpenMetrics. Prometheus negotiates it, but `promtool check
//! metrics`, node_exporter's textfile collector and clients that ask for `text/plain` read the
//! older format. For the expositions hellowatch produces the two differ only in metadata:
//! a counter family is named without `_total` in OpenMetrics (`# TYPE x counter`, samples
//! `x_total`) and with it in 0.0.4; `# UNIT` and `# EOF` do not exist in 0.0.4; `unknown` is
//! `untyped`. Sample lines are the same (hellowatch emits no `_created` samples, exemplars,
//! timestamps, info or stateset metrics, and its help texts contain no characters the formats
//! escape differently — checked in `names`' tests).

use std::collections::HashSet;

/// Converts an OpenMetrics text exposition (as `prometheus-client` writes it) to the
/// Prometheus text format 0.0.4.
pub fn openmetrics_to_prometheus(om: &str) -> String {
    let counters: HashSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len() + 64 * counters.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        if let Some((tag, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(tag);
            out.push_str(name);
            if counters.contains(name) {
                out.push_str("_total");
            }
            out.push(' ');
            out.push_str(if tag == "# TYPE " && tail == "unknown" {
                "untyped"
            } else {
                tail
            });
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_families_take_the_total_suffix_and_om_only_lines_go() {
        let om = "# HELP a_b Hellos.\n# TYPE a_b counter\na_b_total{v=\"x\"} 3\n\
                  # HELP g Gauge.\n# TYPE g gauge\n# UNIT g seconds\ng 1.5\n\
                  # HELP u Odd.\n# TYPE u unknown\nu 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP a_b_total Hellos.\n# TYPE a_b_total counter\na_b_total{v=\"x\"} 3\n\
             # HELP g Gauge.\n# TYPE g gauge\ng 1.5\n\
             # HELP u Odd.\n# TYPE u untyped\nu 1\n"
        );
    }
}
