//! Algorithm 1 on the CPU in f64, drawing the same random numbers as the GPU
//! trainer (Philox streams, bank indices, data batches): the oracle that the
//! GPU trainer must follow step for step.

use super::ReferenceNet;
use super::optim::{AdamState, adam_step, sgd_step};
use super::philox::draw;
use crate::Result;
use crate::config::{Config, InitKind};
use crate::data::toy::Toy;
use crate::kernels::optim::OptimizerKind;
use crate::kernels::sampling::Purpose;
use crate::sampler::{Bank, StepSize};
use crate::train::{draw_data, effective_lr, net_spec, optimizer_kind, starting_params, step_size};

pub struct ReferenceTrainer {
    pub config: Config,
    pub net: ReferenceNet,
    pub params: Vec<f64>,
    pub bank: Option<Vec<f64>>,
    adam: AdamState,
    pub lr: f64,
    pub iteration: u64,
    /// U = F/T of every chain at every step of the last iteration,
    /// [L + 1, chains] from X₀ to X_L.
    pub energy_path: Vec<f64>,
    toy: Toy,
}

/// `steps` unadjusted Langevin steps x ← x − a∇F(x) + b·z on the chains
/// `x` ([chains, dim], in place), z = noise(element, chain, step) (the GPU's
/// Philox draws). Returns Σ over steps and chains of a‖∇F‖ and F of every
/// chain at the start of every step ([steps, chains]).
pub fn langevin(
    net: &ReferenceNet,
    params: &[f64],
    x: &mut [f64],
    size: StepSize,
    steps: u32,
    noise: impl Fn(usize, usize, u32) -> f64,
) -> (f64, Vec<f64>) {
    langevin_with(net, params, x, size, steps, noise, |_, _, _, _| {})
}

/// [`langevin`] with `adjust(chain, x, F, ∇F)` called on every chain's
/// gradient before its step (attraction–diffusion's pull).
pub fn langevin_with(
    net: &ReferenceNet,
    params: &[f64],
    x: &mut [f64],
    size: StepSize,
    steps: u32,
    noise: impl Fn(usize, usize, u32) -> f64,
    mut adjust: impl FnMut(usize, &[f64], f64, &mut [f64]),
) -> (f64, Vec<f64>) {
    let dim = net.geometry[0].in_len();
    let m = x.len() / dim;
    let (a, b) = (f64::from(size.gradient_factor()), f64::from(size.noise_factor()));
    let mut r_sum = 0.0;
    let mut path = Vec::with_capacity(steps as usize * m);
    for step in 0..steps {
        let (energies, mut grads) = net.backward(params, m, x, &vec![1.0; m]);
        for (chain, &f) in energies.iter().enumerate() {
            let rows = chain * dim..(chain + 1) * dim;
            adjust(chain, &x[rows.clone()], f, &mut grads.input[rows]);
        }
        path.extend(energies);
        for chain in 0..m {
            let g = &grads.input[chain * dim..(chain + 1) * dim];
            r_sum += a * g.iter().map(|v| v * v).sum::<f64>().sqrt();
            for e in 0..dim {
                x[chain * dim + e] += -a * g[e] + b * noise(e, chain, step);
            }
        }
    }
    (r_sum, path)
}

/// (d_st, r_t) of one iteration.
pub type Diagnostics = (f64, f64);

impl ReferenceTrainer {
    pub fn new(config: Config) -> Result<Self> {
        let spec = net_spec(&config)?;
        let dim: usize = spec.input.iter().product();
        let seed = config.seed;
        let bank = (config.langevin.init == InitKind::Persistent).then(|| {
            let size = config.langevin.bank_size as usize;
            (0..size * dim)
                .map(|i| {
                    2.0 * draw(
                        seed,
                        Purpose::BankInit as u32,
                        (i % dim) as u32,
                        (i / dim) as u32,
                        0,
                        0,
                        false,
                    ) - 1.0
                })
                .collect()
        });
        Ok(ReferenceTrainer {
            params: starting_params(&config)?.iter().map(|&v| f64::from(v)).collect(),
            net: ReferenceNet::new(&spec)?,
            bank,
            adam: AdamState::default(),
            lr: config.optimizer.lr,
            iteration: 0,
            energy_path: Vec::new(),
            toy: Toy::new(&config.data)?,
            config,
        })
    }

    pub fn step(&mut self) -> Diagnostics {
        let c = &self.config;
        let (n, m) = (c.batch.data as usize, c.batch.chains as usize);
        let dim = self.net.geometry[0].in_len();
        let t = self.iteration;
        let it = t as u32;
        let seed = c.seed;
        let (data, data_init) = draw_data(c, &self.toy, t);
        let f = c.langevin.init_factor;
        let noise = |purpose: Purpose, normal: bool, e: usize, chain: usize, step: u32| {
            draw(seed, purpose as u32, e as u32, chain as u32, step, it, normal)
        };
        let indices = self
            .bank
            .as_ref()
            .map(|_| Bank::indices_for(u64::from(seed), c.langevin.bank_size as usize, m, t));
        let mut x: Vec<f64> = match c.langevin.init {
            InitKind::Persistent => {
                let (bank, idx) = (
                    self.bank.as_ref().expect("bank"),
                    indices.as_ref().expect("indices"),
                );
                idx.iter()
                    .flat_map(|&i| bank[i as usize * dim..(i as usize + 1) * dim].to_vec())
                    .collect()
            }
            InitKind::Uniform => (0..m * dim)
                .map(|i| f * (2.0 * noise(Purpose::ChainInit, false, i % dim, i / dim, 0) - 1.0))
                .collect(),
            InitKind::Gaussian => (0..m * dim)
                .map(|i| f * noise(Purpose::ChainInit, true, i % dim, i / dim, 0))
                .collect(),
            InitKind::Data => data_init
                .unwrap_or_default()
                .iter()
                .map(|&v| f64::from(v))
                .collect(),
        };
        let temp = c.temperature();
        let (r_sum, energies) = langevin(
            &self.net,
            &self.params,
            &mut x,
            step_size(c),
            c.langevin.steps,
            |e, chain, step| noise(Purpose::LangevinNoise, true, e, chain, step),
        );
        self.energy_path = energies.iter().map(|f| f / temp).collect();
        if let (Some(bank), Some(idx)) = (self.bank.as_mut(), indices) {
            for (chain, &i) in idx.iter().enumerate() {
                bank[i as usize * dim..(i as usize + 1) * dim]
                    .copy_from_slice(&x[chain * dim..(chain + 1) * dim]);
            }
        }
        // Learning: ∇θ of mean U(X⁺) − mean U(X⁻) on the concatenated batch.
        let batch: Vec<f64> = data.iter().map(|&v| f64::from(v)).chain(x).collect();
        let upstream: Vec<f64> = (0..n + m)
            .map(|i| {
                if i < n {
                    1.0 / (n as f64 * temp)
                } else {
                    -1.0 / (m as f64 * temp)
                }
            })
            .collect();
        let (energies, grads) = self.net.backward(&self.params, n + m, &batch, &upstream);
        self.energy_path.extend(energies[n..].iter().map(|f| f / temp));
        let d_st = (energies[..n].iter().sum::<f64>() / n as f64
            - energies[n..].iter().sum::<f64>() / m as f64)
            / temp;
        let lr_eff = f64::from(effective_lr(c, self.lr) as f32);
        match optimizer_kind(c) {
            OptimizerKind::Sgd => sgd_step(&mut self.params, &grads.params, lr_eff),
            OptimizerKind::Adam { beta1, beta2, eps } => adam_step(
                &mut self.params,
                &grads.params,
                &mut self.adam,
                lr_eff,
                f64::from(beta1),
                f64::from(beta2),
                f64::from(eps),
            ),
        }
        // A floor above lr counts as lr (as the GPU trainer).
        self.lr = (self.lr * c.optimizer.lr_decay).max(c.optimizer.lr_min.min(c.optimizer.lr));
        self.iteration += 1;
        (d_st, r_sum / (m as f64 * f64::from(c.langevin.steps)))
    }
}
