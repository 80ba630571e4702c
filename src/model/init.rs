use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::NetSpec;
use crate::Result;

/// PyTorch's default initialisation of Conv2d and Linear, drawn from `seed`:
/// weight and bias both U(−1/√fan_in, 1/√fan_in), fan_in = C_in·k·k
/// (kaiming_uniform with a = √5 gives exactly this bound for the weight);
/// the W of a non-local block starts at zero, as the reference sets it.
pub fn init_params(spec: &NetSpec, seed: u64) -> Result<Vec<f32>> {
    draw(spec, seed, false)
}

/// Parameters for kernel checks: as [`init_params`], but tensors that start
/// at zero are drawn too (U(±1/√fan_in) of their own fan-in), since zero
/// weights would hide the gradients that flow through them.
pub fn check_params(spec: &NetSpec, seed: u64) -> Result<Vec<f32>> {
    draw(spec, seed, true)
}

fn draw(spec: &NetSpec, seed: u64, fill_zero_init: bool) -> Result<Vec<f32>> {
    let layout = spec.param_layout()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = Vec::with_capacity(layout.total);
    for t in &layout.tensors {
        let fan_in = match t.fan_in {
            0 if fill_zero_init => t.shape.get(1).copied().unwrap_or(1),
            f => f,
        };
        if fan_in == 0 {
            params.extend(std::iter::repeat_n(0.0, t.len));
            continue;
        }
        let bound = 1.0 / (fan_in as f32).sqrt();
        params.extend((0..t.len).map(|_| rng.random_range(-bound..bound)));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_seeded_and_bounded() {
        let net = NetSpec::vanilla(3, 4).unwrap();
        let a = init_params(&net, 123).unwrap();
        assert_eq!(a, init_params(&net, 123).unwrap());
        assert_ne!(a, init_params(&net, 124).unwrap());
        let layout = net.param_layout().unwrap();
        assert_eq!(a.len(), layout.total);
        let w0 = layout.get("f.0.weight").unwrap();
        let bound = 1.0 / 27f32.sqrt();
        let slice = &a[w0.offset..w0.offset + w0.len];
        assert!(slice.iter().all(|v| v.abs() <= bound));
        // Uniform on [−b, b] has standard deviation b/√3; 108 draws land close to it.
        let sd = (slice.iter().map(|v| v * v).sum::<f32>() / slice.len() as f32).sqrt();
        assert!((sd / (bound / 3f32.sqrt()) - 1.0).abs() < 0.2, "sd {sd}");
    }

    #[test]
    fn non_local_w_starts_at_zero_except_for_checks() {
        let net = NetSpec::nonlocal(1, 2).unwrap();
        let layout = net.param_layout().unwrap();
        let w = layout.get("convs.3.W.weight").unwrap();
        let b = layout.get("convs.7.W.bias").unwrap();
        let init = init_params(&net, 5).unwrap();
        assert!(init[w.offset..w.offset + w.len].iter().all(|&v| v == 0.0));
        assert!(init[b.offset..b.offset + b.len].iter().all(|&v| v == 0.0));
        let theta = layout.get("convs.3.theta.weight").unwrap();
        assert!(
            init[theta.offset..theta.offset + theta.len]
                .iter()
                .any(|&v| v != 0.0)
        );
        let check = check_params(&net, 5).unwrap();
        assert!(check[w.offset..w.offset + w.len].iter().all(|&v| v != 0.0));
    }
}
