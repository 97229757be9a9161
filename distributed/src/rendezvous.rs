//! Who this process is in a data-parallel run, from the variables users already have:
//! torchrun's `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`, or SLURM's
//! `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID` and the first host of
//! `SLURM_JOB_NODELIST`. torchrun's win when both are set (torchrun inside an allocation).

use crate::nodelist;
use nnunet_core::{Error, Result};

/// torchrun's default port; SLURM jobs without `MASTER_PORT` derive one from the job id.
pub const DEFAULT_PORT: u16 = 29500;

/// This rank's place in the group and where the group meets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendezvous {
    pub rank: usize,
    pub world_size: usize,
    /// The rank on this node: the CUDA device index (`cuda:LOCAL_RANK`).
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// `torchrun` or `SLURM`, for messages.
    pub source: &'static str,
}

impl Rendezvous {
    /// From the process environment; `None` for a single process (no variables, or a world
    /// of one).
    pub fn from_env() -> Result<Option<Rendezvous>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From `var` (the environment, or a test's map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Rendezvous>> {
        let number = |name: &str| -> Result<Option<usize>> {
            var(name)
                .map(|v| {
                    v.trim().parse::<usize>().map_err(|_| {
                        Error::Invalid(format!("{name}={v:?} is not a non-negative integer"))
                    })
                })
                .transpose()
        };
        let port = |default: u16| -> Result<u16> {
            match var("MASTER_PORT") {
                Some(p) => p
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| Error::Invalid(format!("MASTER_PORT={p:?} is not a port number"))),
                None => Ok(default),
            }
        };
        let rdv = if let (Some(rank), Some(world_size)) = (number("RANK")?, number("WORLD_SIZE")?) {
            Rendezvous {
                rank,
                world_size,
                local_rank: number("LOCAL_RANK")?.unwrap_or(0),
                master_addr: var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into()),
                master_port: port(DEFAULT_PORT)?,
                source: "torchrun",
            }
        } else if let (Some(rank), Some(world_size)) =
            (number("SLURM_PROCID")?, number("SLURM_NTASKS")?)
        {
            if world_size == 1 {
                // one task (an sbatch job of `nnunet slurm`): a single process
                return Ok(None);
            }
            let master_addr = match var("MASTER_ADDR") {
                Some(addr) => addr,
                None => {
                    let list = var("SLURM_JOB_NODELIST")
                        .or_else(|| var("SLURM_NODELIST"))
                        .ok_or_else(|| {
                            Error::Invalid(
                                "SLURM_PROCID is set but SLURM_JOB_NODELIST is not: cannot \
                                 find the rendezvous host (set MASTER_ADDR)"
                                    .into(),
                            )
                        })?;
                    nodelist::first_host(&list)?
                }
            };
            // Jobs sharing a node get different ports: 20000 + job id mod 10000.
            let job_port =
                number("SLURM_JOB_ID")?.map_or(DEFAULT_PORT, |id| 20000 + (id % 10000) as u16);
            Rendezvous {
                rank,
                world_size,
                local_rank: number("SLURM_LOCALID")?.unwrap_or(0),
                master_addr,
                master_port: port(job_port)?,
                source: "SLURM",
            }
        } else {
            return Ok(None);
        };
        if rdv.world_size == 0 || rdv.rank >= rdv.world_size {
            return Err(Error::Invalid(format!(
                "{}: rank {} is outside a world of size {}",
                rdv.source, rdv.rank, rdv.world_size
            )));
        }
        Ok((rdv.world_size > 1).then_some(rdv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Option<Rendezvous>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Rendezvous::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn torchrun_variables() {
        let rdv = from(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "node07"),
            ("MASTER_PORT", "29400"),
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (rdv.rank, rdv.world_size, rdv.local_rank, rdv.master_port),
            (3, 8, 1, 29400)
        );
        assert_eq!(
            (rdv.master_addr.as_str(), rdv.source),
            ("node07", "torchrun")
        );
    }

    #[test]
    fn slurm_variables() {
        let rdv = from(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_NODELIST", "gpu[12-15]"),
            ("SLURM_JOB_ID", "123456"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((rdv.rank, rdv.world_size, rdv.local_rank), (5, 8, 1));
        assert_eq!(rdv.master_addr, "gpu12");
        assert_eq!(rdv.master_port, 23456);
    }

    #[test]
    fn single_process_and_bad_values() {
        assert_eq!(from(&[]).unwrap(), None);
        assert_eq!(
            from(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")]).unwrap(),
            None
        );
        assert!(from(&[("RANK", "2"), ("WORLD_SIZE", "2")]).is_err());
        assert!(from(&[("RANK", "x"), ("WORLD_SIZE", "2")]).is_err());
        let e = from(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]).unwrap_err();
        assert!(e.to_string().contains("SLURM_JOB_NODELIST"), "{e}");
    }
}
