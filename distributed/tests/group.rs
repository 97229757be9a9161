//! The Gloo process group over the loopback, two ranks as two threads of this process: the
//! all-reduce averages, the metric sum, the broadcast, and a rank that leaves makes the other's
//! next collective fail with an error naming it, well within the timeout.

use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_distributed::{ProcessGroup, Rendezvous};
use std::time::{Duration, Instant};

fn rendezvous(rank: usize, port: u16) -> Rendezvous {
    Rendezvous {
        rank,
        world_size: 2,
        local_rank: rank,
        master_addr: "127.0.0.1".into(),
        master_port: port,
        source: "test",
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `body(rank, group)` on two ranks at once; returns their results.
fn two_ranks<T: Send + 'static>(timeout: Duration, body: fn(usize, ProcessGroup) -> T) -> Vec<T> {
    let port = free_port();
    let handles: Vec<_> = (0..2)
        .map(|rank| {
            std::thread::spawn(move || {
                let group = ProcessGroup::join(&rendezvous(rank, port), Device::Cpu, timeout)
                    .expect("rendezvous");
                body(rank, group)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn collectives_average_sum_and_broadcast() {
    let results = two_ranks(Duration::from_secs(60), |rank, mut group| {
        assert_eq!((group.rank(), group.world_size()), (rank, 2));
        let r = rank as f64;
        let mut grads = vec![
            Tensor::from_slice(&[1.0f32 + r as f32, 10.0 * r as f32]),
            Tensor::full([2, 2], 4.0 * r, (Kind::Float, Device::Cpu)),
        ];
        group.all_reduce_mean(&mut grads).unwrap();
        let mut counts = vec![
            Tensor::from_slice(&[0.5f32 + r as f32, 2.0]),
            Tensor::full([1, 2], 3.0 * r, (Kind::Float, Device::Cpu)),
        ];
        group.all_reduce_sum_tensors(&mut counts).unwrap();
        let mut values = [r + 1.0, 100.0 * r];
        group.all_reduce_sum(&mut values).unwrap();
        let mut weights = vec![Tensor::full([3], r + 7.0, (Kind::Float, Device::Cpu))];
        group.broadcast(&mut weights, 0).unwrap();
        group.barrier().unwrap();
        (
            Vec::<f32>::try_from(&grads[0]).unwrap(),
            Vec::<f32>::try_from(grads[1].flatten(0, -1)).unwrap(),
            values,
            Vec::<f32>::try_from(&weights[0]).unwrap(),
            Vec::<f32>::try_from(&counts[0]).unwrap(),
            Vec::<f32>::try_from(counts[1].flatten(0, -1)).unwrap(),
        )
    });
    for (a, b, values, w, c0, c1) in results {
        assert_eq!(c0, [2.0, 4.0]);
        assert_eq!(c1, [3.0, 3.0]);
        assert_eq!(a, [1.5, 5.0]);
        assert_eq!(b, [2.0; 4]);
        assert_eq!(values, [3.0, 100.0]);
        assert_eq!(w, [7.0; 3]);
    }
}

#[test]
fn a_rank_that_leaves_fails_the_others_collective() {
    let results = two_ranks(Duration::from_secs(30), |rank, mut group| {
        group.barrier().unwrap();
        if rank == 1 {
            drop(group); // closes its connections, as a dead process would
            return None;
        }
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let mut t = vec![Tensor::ones([4], (Kind::Float, Device::Cpu))];
        let err = group.all_reduce_mean(&mut t).unwrap_err().to_string();
        Some((err, started.elapsed()))
    });
    let (err, took) = results[0].clone().unwrap();
    assert!(
        err.starts_with("rank 0: all-reduce of the gradients failed"),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "{err}: after {took:?}");
}

/// The time of one gradient all-reduce over the loopback for `NNUNET_ALLREDUCE_FLOATS` floats
/// (default 1M), median of 5; a measurement for docs/cluster.md, not a check:
/// `NNUNET_ALLREDUCE_FLOATS=30000000 cargo test --release -p nnunet-distributed --test group
/// -- --ignored --nocapture allreduce_timing`.
#[test]
#[ignore]
fn allreduce_timing() {
    let results = two_ranks(Duration::from_secs(600), |_, mut group| {
        let n: i64 = std::env::var("NNUNET_ALLREDUCE_FLOATS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let mut grads = vec![Tensor::ones([n], (Kind::Float, Device::Cpu))];
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                group.barrier().unwrap();
                let started = Instant::now();
                group.all_reduce_mean(&mut grads).unwrap();
                started.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        (n, times[2])
    });
    let (n, median) = results[0];
    eprintln!(
        "all-reduce of {n} floats ({:.1} MB) on 2 ranks: {:.1} ms",
        n as f64 * 4e-6,
        median * 1e3
    );
}
