use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::NetSpec;
use crate::Result;

/// PyTorch's default initialisation of Conv2d and Linear, drawn from `seed`:
/// weight and bias both U(−1/√fan_in, 1/√fan_in), fan_in = C_in·k·k
/// (kaiming_uniform with a = √5 gives exactly this bound for the weight).
pub fn init_params(spec: &NetSpec, seed: u64) -> Result<Vec<f32>> {
    let geometry = spec.geometry()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = Vec::with_capacity(spec.param_layout()?.total);
    for g in geometry.iter().filter(|g| !g.max_pool) {
        let bound = 1.0 / (g.fan_in() as f32).sqrt();
        for _ in 0..g.weight_len() + g.c_out {
            params.push(rng.random_range(-bound..bound));
        }
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
}
