//! SGD and Adam kernels against the CPU reference, over several steps (so
//! Adam's bias correction, largest at the first steps, is exercised).

mod common;

use ebmscope::compare::{Tolerance, compare};
use ebmscope::kernels::optim::{Optimizer, OptimizerKind};
use ebmscope::reference::optim::{AdamState, adam_step, sgd_step};

/// Element-wise f32 updates: a few roundings (≈ 6e-8 each) per step over 5
/// steps; Adam's step m̂/(√v̂ + eps) is bounded by about 1 in size, so its
/// f32 error stays near 1e-7·lr, below 1e-6 of the parameters' scale (~2).
const TOL: Tolerance = Tolerance {
    rtol: 1e-5,
    atol_of_max: 1e-6,
    reason: "element-wise f32 arithmetic over 5 steps",
};

fn run(kind: OptimizerKind, lr: f32) {
    let gpu = common::gpu();
    let n = 1000;
    let params0: Vec<f32> = (0..n).map(|i| ((i * 37 % 200) as f32 - 100.0) / 50.0).collect();
    let params = gpu.storage_buffer("params", n);
    let grads = gpu.storage_buffer("grads", n);
    gpu.write_f32(&params, 0, &params0);
    let mut opt = Optimizer::new(&gpu, kind, &params, &grads, n).unwrap();
    let mut want = common::f64s(&params0);
    let mut adam = AdamState::default();
    for step in 0..5 {
        // Gradients of mixed sign and scale, different every step, some zero.
        let g: Vec<f32> = (0..n)
            .map(|i| {
                if i % 17 == 0 {
                    0.0
                } else {
                    (((i * 7 + step * 13) % 23) as f32 - 11.0) * 0.01 * (1 + i % 3) as f32
                }
            })
            .collect();
        gpu.write_f32(&grads, 0, &g);
        gpu.run("optimizer", |pass| opt.record_step(&gpu, pass, lr));
        match kind {
            OptimizerKind::Sgd => sgd_step(&mut want, &common::f64s(&g), f64::from(lr)),
            OptimizerKind::Adam { beta1, beta2, eps } => adam_step(
                &mut want,
                &common::f64s(&g),
                &mut adam,
                f64::from(lr),
                f64::from(beta1),
                f64::from(beta2),
                f64::from(eps),
            ),
        }
        let got = gpu.read_f32(&params, 0, n).unwrap();
        let c = compare(&got, &want, TOL);
        assert!(c.passed(), "{kind:?} step {step}: {c}");
    }
    assert_eq!(opt.steps, 5);
    if let OptimizerKind::Adam { .. } = kind {
        let (m, v) = opt.read_state(&gpu).unwrap();
        assert!(compare(&m, &adam.m, TOL).passed());
        assert!(compare(&v, &adam.v, TOL).passed());
    }
}

#[test]
fn sgd_matches_reference() {
    run(OptimizerKind::Sgd, 0.1);
}

/// The first Adam step moves every parameter with a non-zero gradient by
/// about lr (bias correction makes m̂/√v̂ = ±1): a test that would fail
/// without the correction.
#[test]
fn adam_matches_reference_with_bias_correction() {
    run(OptimizerKind::ADAM_DEFAULT, 1e-2);
}
