//! Metropolis-adjusted Langevin (PAPER.md) on the CPU in f64: the twin of
//! shaders/mala_propose.wgsl and mala_accept.wgsl, drawing the GPU
//! sampler's momenta and coins (its Philox streams).

use super::ReferenceNet;
use crate::sampler::StepSize;

/// What [`mala`] leaves besides the states.
#[derive(Clone, Debug, PartialEq)]
pub struct MalaOutcome {
    /// F of every chain's final state.
    pub energies: Vec<f64>,
    /// Proposals each chain accepted.
    pub accepted: Vec<u32>,
    /// Σ over steps and chains of a‖∇F‖ at the state each step starts from.
    pub r_sum: f64,
    /// Every accept test, step by step and chain by chain: (H(x, P) −
    /// H(x', P'), log of the coin), taken where the second is the lesser.
    pub tests: Vec<(f64, f64)>,
}

/// `steps` MALA steps on the chains `x` ([chains, dim], in place), U = F/T:
/// propose x' = x − a∇F(x) + εP (a = ε²/2T), P = momentum(element, chain,
/// step); P' = P − (ε/2)(∇U(x) + ∇U(x')); accept when
/// log coin(chain, step) < H(x, P) − H(x', P'), H = U + ‖P‖²/2 (a proposal
/// of non-finite energy refused, one from a state of infinite energy taken).
pub fn mala(
    net: &ReferenceNet,
    params: &[f64],
    x: &mut [f64],
    size: StepSize,
    steps: u32,
    momentum: impl Fn(usize, usize, u32) -> f64,
    coin: impl Fn(usize, u32) -> f64,
) -> MalaOutcome {
    let dim = net.geometry[0].in_len();
    let m = x.len() / dim;
    let a = f64::from(size.gradient_factor());
    let epsilon = f64::from(size.epsilon);
    let inv_temperature = 1.0 / f64::from(size.temperature);
    // (ε/2)(∇U(x) + ∇U(x')) with ∇U = ∇F/T.
    let c = 0.5 * epsilon * inv_temperature;
    let ones = vec![1.0; m];
    let (mut energies, grads) = net.backward(params, m, x, &ones);
    let mut grad = grads.input;
    let mut accepted = vec![0; m];
    let mut r_sum = 0.0;
    let mut tests = Vec::with_capacity(steps as usize * m);
    for step in 0..steps {
        let p: Vec<f64> = (0..m * dim).map(|i| momentum(i % dim, i / dim, step)).collect();
        let proposal: Vec<f64> = (0..m * dim)
            .map(|i| x[i] - a * grad[i] + epsilon * p[i])
            .collect();
        let (energies_prop, grads_prop) = net.backward(params, m, &proposal, &ones);
        for chain in 0..m {
            let rows = chain * dim..(chain + 1) * dim;
            let (g, g_prop, p) = (
                &grad[rows.clone()],
                &grads_prop.input[rows.clone()],
                &p[rows.clone()],
            );
            r_sum += a * g.iter().map(|v| v * v).sum::<f64>().sqrt();
            let kinetic: f64 = p.iter().map(|v| v * v).sum();
            let kinetic_prop: f64 = (0..dim).map(|e| (p[e] - c * (g[e] + g_prop[e])).powi(2)).sum();
            let h = energies[chain] * inv_temperature + 0.5 * kinetic;
            let h_prop = energies_prop[chain] * inv_temperature + 0.5 * kinetic_prop;
            let (dh, log_u) = (h - h_prop, coin(chain, step).ln());
            tests.push((dh, log_u));
            if dh == f64::INFINITY || (dh.is_finite() && log_u < dh) {
                x[rows.clone()].copy_from_slice(&proposal[rows.clone()]);
                grad[rows.clone()].copy_from_slice(&grads_prop.input[rows]);
                energies[chain] = energies_prop[chain];
                accepted[chain] += 1;
            }
        }
    }
    MalaOutcome {
        energies,
        accepted,
        r_sum,
        tests,
    }
}
