//! SLURM's compressed host lists (`SLURM_JOB_NODELIST`): `node[01-04,07],gpu5`,
//! `rack[1-2]-n[3,5]`. The first host is the rendezvous host of a multi-node job.

use nnunet_core::{Error, Result};

/// Every host of `list`, in SLURM's order (`scontrol show hostnames`).
pub fn expand(list: &str) -> Result<Vec<String>> {
    let mut hosts = Vec::new();
    for item in split_top_level(list)? {
        if !item.is_empty() {
            hosts.extend(expand_item(item)?);
        }
    }
    if hosts.is_empty() {
        return Err(bad(list, "no host"));
    }
    Ok(hosts)
}

/// The first host of `list` (`node[01-04]` → `node01`).
pub fn first_host(list: &str) -> Result<String> {
    Ok(expand(list)?.swap_remove(0))
}

fn bad(list: &str, why: &str) -> Error {
    Error::Invalid(format!("SLURM host list {list:?}: {why}"))
}

/// Splits at the commas outside brackets.
fn split_top_level(list: &str) -> Result<Vec<&str>> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| bad(list, "unmatched ]"))?
            }
            ',' if depth == 0 => {
                items.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(bad(list, "unmatched ["));
    }
    items.push(list[start..].trim());
    Ok(items)
}

/// One item: the first bracket expanded, the rest recursively (`a[1-2]b[3-4]` → 4 hosts).
fn expand_item(item: &str) -> Result<Vec<String>> {
    let Some(open) = item.find('[') else {
        return Ok(vec![item.to_string()]);
    };
    let close = open
        + item[open..]
            .find(']')
            .ok_or_else(|| bad(item, "unmatched ["))?;
    let (prefix, ranges, rest) = (&item[..open], &item[open + 1..close], &item[close + 1..]);
    let tails = expand_item(rest)?;
    let mut hosts = Vec::new();
    for range in ranges.split(',') {
        for number in expand_range(item, range.trim())? {
            for tail in &tails {
                hosts.push(format!("{prefix}{number}{tail}"));
            }
        }
    }
    Ok(hosts)
}

/// `01-04` → 01, 02, 03, 04 (the width of the first bound kept); `7` → 7.
fn expand_range(item: &str, range: &str) -> Result<Vec<String>> {
    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| bad(item, &format!("{s:?} is not a number")))
    };
    let (a, b) = (parse(lo)?, parse(hi)?);
    if b < a {
        return Err(bad(item, &format!("range {range} runs backwards")));
    }
    let width = lo.len();
    Ok((a..=b).map(|n| format!("{n:0width$}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_slurm_host_lists() {
        assert_eq!(first_host("node[01-04,07]").unwrap(), "node01");
        assert_eq!(
            expand("node[01-04,07]").unwrap(),
            ["node01", "node02", "node03", "node04", "node07"]
        );
        assert_eq!(expand("gpu5").unwrap(), ["gpu5"]);
        assert_eq!(
            expand("a[8-10],b,c[2]").unwrap(),
            ["a8", "a9", "a10", "b", "c2"]
        );
        assert_eq!(
            expand("rack[1-2]-n[3,5]").unwrap(),
            ["rack1-n3", "rack1-n5", "rack2-n3", "rack2-n5"]
        );
        assert_eq!(first_host("x-[098-101]").unwrap(), "x-098");
        assert_eq!(expand("x-[098-101]").unwrap()[3], "x-101");
    }

    #[test]
    fn malformed_host_lists_are_errors() {
        for bad in ["", "node[01-04", "node01]", "node[a-b]", "node[5-2]"] {
            let err = expand(bad).unwrap_err().to_string();
            assert!(err.contains("SLURM host list"), "{bad}: {err}");
        }
    }
}
