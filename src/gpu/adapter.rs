use crate::{Error, Result};

/// Which adapter to open: by (part of) its name and/or by backend. Unset
/// fields fall back to the environment (`EBMSCOPE_ADAPTER`,
/// `EBMSCOPE_BACKEND`), then to the best adapter: discrete GPU, integrated,
/// virtual, then CPU. Also how the device opened on it runs convolutions.
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    pub name: Option<String>,
    pub backend: Option<String>,
    /// The convolution kernels of the nets built on the device (None: the
    /// default for the adapter's type, see [`super::Gpu`]).
    pub conv_kernels: Option<super::ConvKernels>,
    /// Say nothing of a CPU adapter chosen (`info`, whose listing says it).
    pub quiet: bool,
}

/// What `ebmscope info` prints for one adapter.
pub struct AdapterReport {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub suitable: Result<()>,
}

fn parse_backend(name: &str) -> Result<wgpu::Backends> {
    // (wgpu builds Metal for Apple's systems only, DX12 for Windows only.)
    let not_here = |backend, maker| Error::BackendNotHere {
        backend,
        maker,
        os: std::env::consts::OS,
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "metal" | "mtl" if !cfg!(target_vendor = "apple") => Err(not_here("metal", "Apple")),
        "dx12" | "d3d12" if !cfg!(windows) => Err(not_here("dx12", "Microsoft")),
        "vulkan" | "vk" => Ok(wgpu::Backends::VULKAN),
        "metal" | "mtl" => Ok(wgpu::Backends::METAL),
        "dx12" | "d3d12" => Ok(wgpu::Backends::DX12),
        "gl" | "gles" | "opengl" => Ok(wgpu::Backends::GL),
        _ => Err(Error::UnknownBackend(name.to_string())),
    }
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

impl AdapterChoice {
    /// Whether an adapter was asked for by name (--adapter or
    /// EBMSCOPE_ADAPTER): the user knows which it is.
    pub(crate) fn named(&self) -> bool {
        self.resolved().0.is_some()
    }

    /// The adapter's name and backend asked for, here or in the
    /// environment, without the spaces around them.
    fn resolved(&self) -> (Option<String>, Option<String>) {
        let given = |v: &Option<String>, key| {
            v.clone()
                .or_else(|| env_nonempty(key))
                .map(|s| s.trim().to_string())
        };
        (
            given(&self.name, "EBMSCOPE_ADAPTER"),
            given(&self.backend, "EBMSCOPE_BACKEND"),
        )
    }

    /// The refusal where wgpu found no adapter of the backends asked for
    /// (how to get one, for them); `see_info` ends it.
    pub fn no_adapter(&self, see_info: &'static str) -> Error {
        Error::NoAdapter {
            gl: self.backends().is_ok_and(|b| b == wgpu::Backends::GL),
            backends: self
                .resolved()
                .1
                .map(|b| {
                    format!(" for backend {b} (--backend or EBMSCOPE_BACKEND: leave both unset to see all)")
                })
                .unwrap_or_default(),
            see_info,
        }
    }

    fn backends(&self) -> Result<wgpu::Backends> {
        match self.resolved().1 {
            Some(b) => parse_backend(&b),
            None => Ok(wgpu::Backends::all()),
        }
    }

    /// The adapters to use, best first (never none), or an error saying how
    /// to get one; and the instance they belong to (a window's surface must
    /// come from the same instance to share the device).
    pub(crate) fn candidates(&self) -> Result<(wgpu::Instance, Vec<wgpu::Adapter>)> {
        let (name, _) = self.resolved();
        let backends = self.backends()?;
        // Look at the native backends first and at GL only when they have
        // nothing: GL is the slowest path, and probing it (EGL) is noisy.
        let primary = backends & wgpu::Backends::PRIMARY;
        let (mut inst, mut adapters) = if primary.is_empty() {
            (instance(primary), Vec::new())
        } else {
            enumerate(primary)
        };
        let wanted_seen = |list: &[wgpu::Adapter]| match &name {
            Some(w) => list
                .iter()
                .any(|a| a.get_info().name.to_lowercase().contains(&w.to_lowercase())),
            None => !list.is_empty(),
        };
        if !wanted_seen(&adapters) {
            let native_found_none = !primary.is_empty() && adapters.is_empty();
            (inst, adapters) = enumerate(backends);
            // A broken or hidden Vulkan install would otherwise run on GL
            // unsaid, its slowest path.
            if native_found_none && !adapters.is_empty() {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    eprintln!(
                        "note: no Vulkan, Metal or DX12 adapter found (a driver missing, or hidden by \
                         VK_ICD_FILENAMES?): using GL, ebmscope's slowest path"
                    )
                });
            }
        }
        if adapters.is_empty() {
            return Err(self.no_adapter(" `ebmscope info` lists what wgpu sees."));
        }
        if let Some(wanted) = &name {
            let available = adapters
                .iter()
                .map(|a| format!("`{}` ({:?})", a.get_info().name, a.get_info().backend))
                .collect::<Vec<_>>()
                .join(", ");
            let needle = wanted.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
            if adapters.is_empty() {
                return Err(Error::AdapterNotFound {
                    wanted: wanted.clone(),
                    available,
                });
            }
        }
        // Prefer hardware, then an adapter that can run our kernels, then Vulkan
        // over GL (same device seen twice).
        adapters.sort_by_key(|a| {
            let info = a.get_info();
            (
                check_suitable(&info.name, &a.limits()).is_err(),
                rank(info.device_type),
                info.backend != wgpu::Backend::Vulkan,
            )
        });
        Ok((inst, adapters))
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

fn enumerate(backends: wgpu::Backends) -> (wgpu::Instance, Vec<wgpu::Adapter>) {
    let inst = instance(backends);
    let adapters = pollster::block_on(inst.enumerate_adapters(backends));
    (inst, adapters)
}

/// Every adapter wgpu sees, with the limits ebmscope relies on.
pub fn list_adapters(choice: &AdapterChoice) -> Result<Vec<AdapterReport>> {
    let mut out: Vec<_> = enumerate(choice.backends()?)
        .1
        .into_iter()
        .map(|a| {
            let info = a.get_info();
            let limits = a.limits();
            let suitable = check_suitable(&info.name, &limits);
            AdapterReport {
                info,
                limits,
                suitable,
            }
        })
        .collect();
    out.sort_by_key(|r| rank(r.info.device_type));
    Ok(out)
}

/// Storage buffers the most demanding kernels bind (mala_accept, mlp_langevin), and the
/// workgroup memory of the most demanding one (mlp_langevin), in bytes:
/// WebGPU's guaranteed minimums (tests/shaders.rs checks both against the kernels).
pub const STORAGE_BUFFERS_NEEDED: u32 = 8;
pub const WORKGROUP_STORAGE_NEEDED: u32 = 16384;

/// Refuse adapters that cannot run the kernels (e.g. GL without compute).
pub(crate) fn check_suitable(adapter: &str, limits: &wgpu::Limits) -> Result<()> {
    let needs = [
        (
            "max_storage_buffers_per_shader_stage",
            limits.max_storage_buffers_per_shader_stage,
            STORAGE_BUFFERS_NEEDED,
        ),
        (
            "max_compute_workgroup_storage_size",
            limits.max_compute_workgroup_storage_size,
            WORKGROUP_STORAGE_NEEDED,
        ),
        (
            "max_compute_invocations_per_workgroup",
            limits.max_compute_invocations_per_workgroup,
            super::LARGEST_WORKGROUP,
        ),
        (
            "max_compute_workgroup_size_x",
            limits.max_compute_workgroup_size_x,
            super::LARGEST_WORKGROUP,
        ),
        (
            "max_compute_workgroups_per_dimension",
            limits.max_compute_workgroups_per_dimension,
            1,
        ),
    ];
    for (name, have, need) in needs {
        if have < need {
            return Err(Error::AdapterUnsuitable {
                adapter: adapter.to_string(),
                reason: format!(
                    "{name} is {have}, ebmscope needs at least {need}; choose another adapter or backend"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WebGPU's default limits run every kernel; one storage buffer or one
    /// byte of workgroup memory less is refused, naming the limit.
    #[test]
    fn limits_below_the_kernels_needs_are_refused() {
        let limits = wgpu::Limits::default();
        check_suitable("test adapter", &limits).unwrap();
        let fewer_buffers = wgpu::Limits {
            max_storage_buffers_per_shader_stage: STORAGE_BUFFERS_NEEDED - 1,
            ..limits.clone()
        };
        let err = check_suitable("test adapter", &fewer_buffers)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_storage_buffers_per_shader_stage is 7"), "{err}");
        let less_memory = wgpu::Limits {
            max_compute_workgroup_storage_size: WORKGROUP_STORAGE_NEEDED - 1,
            ..limits
        };
        let err = check_suitable("test adapter", &less_memory)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_compute_workgroup_storage_size"), "{err}");
    }
}
