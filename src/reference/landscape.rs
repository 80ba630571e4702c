//! Attraction–diffusion on the CPU: the twin of the attraction kernel
//! (shaders/attraction.wgsl) driving the reference Langevin steps.

use super::ReferenceNet;
use super::trainer::langevin_with;
use crate::sampler::StepSize;

/// `steps` Langevin steps of the chains `x` ([chains, dim], in place) on
/// F(x) + pull·‖x − b‖, (goals, pull): b = the chain's row of goals, with
/// the noise of [`super::trainer::langevin`]. Returns per chain the closest
/// ‖x − b‖ and the highest F over the states the steps started from.
pub fn attraction_diffusion(
    net: &ReferenceNet,
    params: &[f64],
    x: &mut [f64],
    (goals, pull): (&[f64], f64),
    size: StepSize,
    steps: u32,
    noise: impl Fn(usize, usize, u32) -> f64,
) -> Vec<(f64, f64)> {
    let dim = net.geometry[0].in_len();
    let mut track = vec![(f64::INFINITY, f64::NEG_INFINITY); x.len() / dim];
    let adjust = |chain: usize, x: &[f64], f: f64, grad: &mut [f64]| {
        let goal = &goals[chain * dim..(chain + 1) * dim];
        let distance = x
            .iter()
            .zip(goal)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        if distance > 0.0 {
            for ((g, a), b) in grad.iter_mut().zip(x).zip(goal) {
                *g += pull * (a - b) / distance;
            }
        }
        let t = &mut track[chain];
        *t = (t.0.min(distance), t.1.max(f));
    };
    langevin_with(net, params, x, size, steps, noise, adjust);
    track
}
