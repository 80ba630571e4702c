use super::field::EnergyField;
use crate::gpu::{Gpu, WORKGROUP_SIZE};
use crate::kernels::sampling::AttractionParams;
use crate::kernels::{ATTRACTION, Launch};
use crate::{Error, Result};

/// A field with every chain pulled toward its own goal state b: the energy
/// of attraction–diffusion, F(x) + pull·‖x − b‖ (Langevin at temperature T
/// then samples exp(−F/T − α‖x − b‖) for pull = α·T), the norm smoothed
/// within one step's pull of b, so that a step moves a chain onto its goal
/// rather than past it (pull_scale in shaders/attraction_state.wgsl; the
/// sampler that runs the field writes its step there). Its energy buffer
/// holds F alone; its gradient holds ∇F plus the pull. It also tracks, per
/// chain, the closest the chain has come to its goal and the highest F it
/// passed before it first came within `reach` of it (the barrier).
///
/// The pull, reach, goals and tracks live in one buffer
/// (shaders/attraction_state.wgsl): the attraction kernel uses it after the
/// field's own kernels in the layered steps, and the fused sampler, where
/// the inner field allows it, inside its steps.
pub struct Attracted<F: EnergyField> {
    pub inner: F,
    state: wgpu::Buffer,
    launch: Launch,
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

/// Floats before the goals in the state buffer: pull, reach, the step's
/// gradient factor and one unused (ATTRACTION_HEADER in
/// shaders/attraction_state.wgsl).
pub const ATTRACTION_HEADER: usize = 4;

/// Where in the header the step's gradient factor sits (attraction_state.wgsl's [2]).
const STEP_AT: usize = 2;

/// Tell a field's attraction state, if it has one, the gradient factor a
/// of the Langevin step that samples it: the pull reaches no further than
/// the goal in one step of that size. The sampler calls this whenever it
/// takes the field or changes its step.
pub(crate) fn set_attraction_step(gpu: &Gpu, field: &impl EnergyField, a: f32) {
    if let Some(state) = field.attraction() {
        gpu.write_f32(state, STEP_AT, &[a]);
    }
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
        let state = gpu.storage_buffer("attraction state", ATTRACTION_HEADER + chains * dim + chains * 2);
        gpu.write_f32(&state, 0, &[pull, reach, 0.0, 0.0]);
        let params = AttractionParams {
            chains: chains as u32,
            dim: dim as u32,
            ..Default::default()
        };
        let launch = Launch::new(
            gpu,
            &ATTRACTION,
            "attraction",
            &params,
            &[inner.input(), &state, inner.grad(), inner.energy()],
            chains * WORKGROUP_SIZE as usize,
        )?;
        let field = Attracted { inner, state, launch };
        field.reset_track(gpu);
        Ok(field)
    }

    /// Change the pull (from the next submission on).
    pub fn set_pull(&mut self, gpu: &Gpu, pull: f32) -> Result<()> {
        check_pull(pull)?;
        gpu.write_f32(&self.state, 0, &[pull]);
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
        gpu.write_f32(&self.state, ATTRACTION_HEADER, goals);
        Ok(())
    }

    /// Where the tracks start in the state buffer (in floats).
    fn tracks_at(&self) -> usize {
        ATTRACTION_HEADER + self.inner.chains() * self.inner.dim()
    }

    /// Forget the closest distances and highest energies so far.
    pub fn reset_track(&self, gpu: &Gpu) {
        let fresh = [f32::MAX, f32::MIN].repeat(self.inner.chains());
        gpu.write_f32(&self.state, self.tracks_at(), &fresh);
    }

    pub fn read_track(&self, gpu: &Gpu) -> Result<Vec<Track>> {
        let t = gpu.read_f32(&self.state, self.tracks_at(), self.inner.chains() * 2)?;
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
    fn record_eval_same_params(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.inner.record_eval_same_params(gpu, pass);
        self.launch.record(gpu, pass);
    }
    fn dense_layers(&self) -> Option<(Vec<[u32; 4]>, &wgpu::Buffer)> {
        self.inner.dense_layers()
    }
    fn attraction(&self) -> Option<&wgpu::Buffer> {
        Some(&self.state)
    }
}
