//! Attraction–diffusion on the CPU: the twin of the attraction kernel
//! (shaders/attraction.wgsl) and of the fused sampler's pull
//! (shaders/mlp_langevin.wgsl), driving the reference Langevin steps.

use super::ReferenceNet;
use super::trainer::langevin_with;
use crate::sampler::StepSize;

/// The pull of attraction–diffusion: chain i toward row i of `goals`
/// ([chains, dim]) with `pull`·(x − b)/max(‖x − b‖, a·pull) added to ∇F,
/// a the step's gradient factor (so that no step carries a chain past its
/// goal: pull_scale in shaders/attraction_state.wgsl); a chain within
/// `reach` of its goal has reached it.
pub struct Pull<'a> {
    pub goals: &'a [f64],
    pub pull: f64,
    pub reach: f64,
}

/// `steps` Langevin steps of the chains `x` ([chains, dim], in place) on
/// F(x) + pull·‖x − b‖ (smoothed within a·pull of b), with the noise of
/// [`super::trainer::langevin`].
/// Returns per chain the closest ‖x − b‖ over the states the steps started
/// from, and the highest F over those before the chain first came within
/// reach.
pub fn attraction_diffusion(
    net: &ReferenceNet,
    params: &[f64],
    x: &mut [f64],
    p: &Pull,
    size: StepSize,
    steps: u32,
    noise: impl Fn(usize, usize, u32) -> f64,
) -> Vec<(f64, f64)> {
    let dim = net.geometry[0].in_len();
    let mut track = vec![(f64::INFINITY, f64::NEG_INFINITY); x.len() / dim];
    let within = f64::from(size.gradient_factor()) * p.pull;
    let adjust = |chain: usize, x: &[f64], f: f64, grad: &mut [f64]| {
        let goal = &p.goals[chain * dim..(chain + 1) * dim];
        let distance = x
            .iter()
            .zip(goal)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let smoothed = distance.max(within);
        if smoothed > 0.0 {
            for ((g, a), b) in grad.iter_mut().zip(x).zip(goal) {
                *g += p.pull * (a - b) / smoothed;
            }
        }
        let (closest, highest) = &mut track[chain];
        if *closest >= p.reach {
            *highest = highest.max(f);
        }
        *closest = closest.min(distance);
    };
    langevin_with(net, params, x, size, steps, noise, adjust);
    track
}
