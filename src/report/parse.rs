//! Reading a JSON report back into a census (for `hellowatch merge`): the inverse of
//! [`super::census_json`]. Derived keys (`legacy`, `policy`, `clients`, `legacy_clients`) are
//! recomputed, not read; keys this version does not know are ignored.

use crate::tally::{Census, ClientTally, Sample};
use crate::tls::{Version, alert_name};
use crate::upgrade::Start;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A JSON document that is not a hellowatch report (or one this version cannot read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a hellowatch JSON report: {0}")]
pub struct ReportParseError(pub String);

fn bad(what: impl Into<String>) -> ReportParseError {
    ReportParseError(what.into())
}

fn count(o: &Map<String, Value>, key: &str, at: &str) -> Result<u64, ReportParseError> {
    match o.get(key) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| bad(format!("{at}.{key} is not a count"))),
    }
}

fn object<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<&'a Map<String, Value>>, ReportParseError> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(bad(format!("{at}.{key} is not an object"))),
    }
}

fn version_map(
    o: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<BTreeMap<Version, u64>, ReportParseError> {
    let mut out = BTreeMap::new();
    if let Some(m) = object(o, key, at)? {
        for (name, n) in m {
            let v = Version::from_name(name)
                .ok_or_else(|| bad(format!("{at}.{key}: unknown version '{name}'")))?;
            let n = n
                .as_u64()
                .ok_or_else(|| bad(format!("{at}.{key}.{name} is not a count")))?;
            if n > 0 {
                *out.entry(v).or_default() += n;
            }
        }
    }
    Ok(out)
}

/// An alert description from its report label (`protocol_version`, `unassigned_N`).
pub fn alert_from_label(label: &str) -> Option<u8> {
    if let Some(n) = label.strip_prefix("unassigned_") {
        return n.parse().ok();
    }
    (0..=u8::MAX).find(|d| alert_name(*d) == Some(label))
}

fn sample(o: Option<&Map<String, Value>>, key: &str, at: &str) -> Result<Sample, ReportParseError> {
    let mut s = Sample::default();
    let Some(o) = o else {
        return Ok(s);
    };
    if let Some(m) = object(o, key, at)? {
        for (k, n) in m {
            let n = n
                .as_u64()
                .ok_or_else(|| bad(format!("{at}.{key}.{k} is not a count")))?;
            s.add(k, n);
        }
    }
    if let Some(nk) = object(o, "not_kept", at)? {
        s.add_not_kept(count(nk, key, &format!("{at}.not_kept"))?);
    }
    Ok(s)
}

/// Connections by how TLS began (`"started": {"direct": n, "starttls-smtp": n, …}`).
fn started(o: &Map<String, Value>, at: &str) -> Result<[u64; Start::COUNT], ReportParseError> {
    let mut out = [0u64; Start::COUNT];
    if let Some(m) = object(o, "started", at)? {
        for (name, n) in m {
            let s = Start::ALL
                .iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| bad(format!("{at}.started: unknown start '{name}'")))?;
            let n = n
                .as_u64()
                .ok_or_else(|| bad(format!("{at}.started.{name} is not a count")))?;
            if let Some(slot) = out.get_mut(s.index()) {
                *slot += n;
            }
        }
    }
    Ok(out)
}

/// A client (or totals) object back into a tally.
pub fn tally_from_json(o: &Map<String, Value>, at: &str) -> Result<ClientTally, ReportParseError> {
    let mut alerts = BTreeMap::new();
    if let Some(m) = object(o, "alerts", at)? {
        for (label, n) in m {
            let d = alert_from_label(label)
                .ok_or_else(|| bad(format!("{at}.alerts: unknown alert '{label}'")))?;
            let n = n
                .as_u64()
                .ok_or_else(|| bad(format!("{at}.alerts.{label} is not a count")))?;
            if n > 0 {
                *alerts.entry(d).or_default() += n;
            }
        }
    }
    let fallback = object(o, "fallback", at)?;
    let fb_at = format!("{at}.fallback");
    let legacy = object(o, "legacy_hellos", at)?;
    let lh_at = format!("{at}.legacy_hellos");
    Ok(ClientTally {
        hellos: count(o, "hellos", at)?,
        offered_max: version_map(o, "offered_max", at)?,
        offered_versions: version_map(o, "offered_versions", at)?,
        negotiated: version_map(o, "negotiated", at)?,
        alerts,
        failed_handshakes: count(o, "failed_handshakes", at)?,
        fallback_hellos: match fallback {
            Some(f) => count(f, "hellos", &fb_at)?,
            None => 0,
        },
        fallback_offered_max: match fallback {
            Some(f) => version_map(f, "offered_max", &fb_at)?,
            None => BTreeMap::new(),
        },
        legacy_ja4: sample(legacy, "ja4", &lh_at)?,
        legacy_ja3: sample(legacy, "ja3", &lh_at)?,
        legacy_server_names: sample(legacy, "server_names", &lh_at)?,
        started: started(o, at)?,
        proxied_for: Default::default(),
    })
}

/// The census of a JSON report (`max_clients` bounds the client entries; more are counted in
/// [`Census::clients_dropped`] and the totals, as in a replay).
pub fn census_from_json(v: &Value, max_clients: usize) -> Result<Census, ReportParseError> {
    let root = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let clients = object(root, "clients", "report")?.ok_or_else(|| bad("no \"clients\""))?;
    let totals = object(root, "totals", "report")?.ok_or_else(|| bad("no \"totals\""))?;
    let mut c = Census::new(max_clients);
    c.totals = tally_from_json(totals, "totals")?;
    c.connections = count(totals, "connections", "totals")?;
    if let Some(cov) = object(root, "coverage", "report")? {
        c.clients_dropped = count(cov, "clients_dropped", "coverage")?;
    }
    for (ip, t) in clients {
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| bad(format!("client '{ip}' is not an address")))?;
        let t = t
            .as_object()
            .ok_or_else(|| bad(format!("clients.{ip} is not an object")))?;
        let tally = tally_from_json(t, &format!("clients.{ip}"))?;
        if c.clients.len() < max_clients {
            c.clients.entry(addr).or_default().merge(&tally);
        } else {
            c.clients_dropped += 1;
        }
    }
    Ok(c)
}

/// Adds `b` into `a` the way reports add up: numbers are summed, objects merged key by key,
/// arrays concatenated; anything else keeps `a`'s value. Used for `"input"` and `"coverage"`,
/// which are all counts, lists of files and warnings.
pub fn add_values(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(p), Some(q)) = (x.as_u64(), y.as_u64()) {
                *x = p.saturating_add(q).into();
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                match x.get_mut(k) {
                    Some(mine) => add_values(mine, v),
                    None => {
                        x.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => x.extend(y.iter().cloned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alert_labels_round_trip() {
        for d in 0..=u8::MAX {
            assert_eq!(alert_from_label(&super::super::alert_label(d)), Some(d));
        }
        assert_eq!(alert_from_label("no_such_alert"), None);
    }

    #[test]
    fn values_add_up() {
        let mut a = json!({"n": 1, "m": {"x": 2}, "files": ["a"], "s": "keep"});
        add_values(
            &mut a,
            &json!({"n": 2, "m": {"x": 3, "y": 1}, "files": ["b"], "s": "other"}),
        );
        assert_eq!(
            a,
            json!({"n": 3, "m": {"x": 5, "y": 1}, "files": ["a", "b"], "s": "keep"})
        );
    }

    #[test]
    fn malformed_reports_are_errors() {
        assert!(census_from_json(&json!([]), 10).is_err());
        assert!(census_from_json(&json!({"clients": {}}), 10).is_err());
        let bad_version =
            json!({"clients": {"10.0.0.1": {"offered_max": {"tls9": 1}}}, "totals": {}});
        let e = census_from_json(&bad_version, 10).unwrap_err();
        assert!(e.to_string().contains("tls9"), "{e}");
        let bad_ip = json!({"clients": {"host": {}}, "totals": {}});
        assert!(census_from_json(&bad_ip, 10).is_err());
    }
}
