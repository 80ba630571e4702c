use super::field::EnergyField;
use crate::gpu::{Gpu, WORKGROUP_SIZE};
use crate::kernels::sampling::AttractionParams;
use crate::kernels::{ATTRACTION, Launch};
use crate::{Error, Result};

/// A field with every chain pulled toward its own goal state b: the energy
/// of attraction–diffusion, F(x) + pull·‖x − b‖ (Langevin at temperature T
/// then samples exp(−F/T − α‖x − b‖) for pull = α·T). Its energy buffer
/// holds F alone; its gradient holds ∇F plus the pull. It also tracks, per
/// chain, the closest the chain has come to its goal and the highest F it
/// passed before it first came within `reach` of it (the barrier).
pub struct Attracted<F: EnergyField> {
    pub inner: F,
    goals: wgpu::Buffer,
    track: wgpu::Buffer,
    launch: Launch,
    /// What the kernel's uniform holds (its pull changes by `set_pull`).
    params: AttractionParams,
}

/// What an attracted chain has done since [`Attracted::reset_track`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Track {
    /// The smallest ‖x − b‖ over the states evaluated.
    pub closest: f32,
    /// The largest F over the states evaluated before the chain first came
    /// within `reach` of its goal.
    pub highest: f32,
}

impl<F: EnergyField> Attracted<F> {
    /// `pull`: the pull's size in ∇F units (≥ 0); `reach`: the distance
    /// within which a chain has reached its goal.
    pub fn new(gpu: &Gpu, inner: F, pull: f32, reach: f32) -> Result<Self> {
        check_pull(pull)?;
        if reach.is_nan() || reach < 0.0 {
            return Err(Error::Shape(format!(
                "attraction needs a reach ≥ 0 (got {reach})"
            )));
        }
        let (chains, dim) = (inner.chains(), inner.dim());
        let goals = gpu.storage_buffer("attraction goals", chains * dim);
        let track = gpu.storage_buffer("attraction track", chains * 2);
        let params = AttractionParams {
            chains: chains as u32,
            dim: dim as u32,
            pull,
            reach,
        };
        let launch = Launch::new(
            gpu,
            &ATTRACTION,
            "attraction",
            &params,
            &[inner.input(), &goals, inner.grad(), inner.energy(), &track],
            chains * WORKGROUP_SIZE as usize,
        )?;
        let field = Attracted {
            inner,
            goals,
            track,
            launch,
            params,
        };
        field.reset_track(gpu);
        Ok(field)
    }

    /// Change the pull (from the next submission on).
    pub fn set_pull(&mut self, gpu: &Gpu, pull: f32) -> Result<()> {
        check_pull(pull)?;
        self.params.pull = pull;
        self.launch.set_params(gpu, &self.params);
        Ok(())
    }

    /// The goal of every chain, [chains, dim].
    pub fn write_goals(&self, gpu: &Gpu, goals: &[f32]) -> Result<()> {
        let want = self.inner.chains() * self.inner.dim();
        if goals.len() != want {
            return Err(Error::Shape(format!(
                "attraction goals: {} values for {want} (chains × dim)",
                goals.len()
            )));
        }
        gpu.write_f32(&self.goals, 0, goals);
        Ok(())
    }

    /// Forget the closest distances and highest energies so far.
    pub fn reset_track(&self, gpu: &Gpu) {
        let fresh = [f32::MAX, f32::MIN].repeat(self.inner.chains());
        gpu.write_f32(&self.track, 0, &fresh);
    }

    pub fn read_track(&self, gpu: &Gpu) -> Result<Vec<Track>> {
        let t = gpu.read_f32(&self.track, 0, self.inner.chains() * 2)?;
        Ok(t.chunks_exact(2)
            .map(|c| Track {
                closest: c[0],
                highest: c[1],
            })
            .collect())
    }
}

fn check_pull(pull: f32) -> Result<()> {
    if pull >= 0.0 && pull.is_finite() {
        Ok(())
    } else {
        Err(Error::Shape(format!(
            "attraction needs a finite pull ≥ 0 (got {pull})"
        )))
    }
}

impl<F: EnergyField> EnergyField for Attracted<F> {
    fn chains(&self) -> usize {
        self.inner.chains()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn input(&self) -> &wgpu::Buffer {
        self.inner.input()
    }
    fn energy(&self) -> &wgpu::Buffer {
        self.inner.energy()
    }
    fn grad(&self) -> &wgpu::Buffer {
        self.inner.grad()
    }
    fn record_eval(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.inner.record_eval(gpu, pass);
        self.launch.record(gpu, pass);
    }
    // No dense_layers: the fused sampler has no pull, so the layered kernels run.
}
