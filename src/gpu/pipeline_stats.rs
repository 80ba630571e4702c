//! What a Vulkan driver says of the compute pipelines it compiled for
//! ebmscope's kernels (VK_KHR_pipeline_executable_properties): registers,
//! shared and spilled memory, instructions, as each driver names them.
//! Occupancy on a GPU core is set by such figures (registers per
//! invocation above all), which no timing shows. wgpu does not expose the
//! extension, so the kernels are compiled again here, on a Vulkan device
//! of the same adapter and driver made for the purpose: the same WGSL and
//! pipeline constants, turned into SPIR-V by naga with the options wgpu's
//! Vulkan backend chooses for that device (SPIR-V version, bounds checks
//! left to the driver's robustness where it has robustBufferAccess2,
//! workgroup memory zeroed natively where it can, ebmscope's no loop
//! bounding), and the device features those options rely on enabled.

use std::collections::BTreeMap;
use std::ffi::CStr;

use ash::vk;

use crate::{Error, Result};

/// A kernel as the Gpu compiled it: its cache key (name and constants),
/// WGSL source and pipeline constants.
#[derive(Clone, Debug)]
pub struct CompiledPipeline {
    pub key: String,
    pub source: &'static str,
    pub constants: Vec<(String, f64)>,
}

/// What the driver says of one pipeline: per executable.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineStatistics {
    pub key: String,
    pub executables: Vec<Executable>,
}

/// An executable's name (e.g. "Compute Shader") and each of its
/// statistics' name and value, in the driver's order.
pub type Executable = (String, Vec<(String, String)>);

fn vk_err(what: &str) -> impl Fn(vk::Result) -> Error + '_ {
    move |e| Error::Config(format!("pipeline statistics: {what} failed ({e})"))
}

/// The bindings of a kernel's descriptor sets, by group: (binding, type).
type SetLayouts = BTreeMap<u32, Vec<(u32, vk::DescriptorType)>>;

/// SPIR-V of `p`'s WGSL with its pipeline constants applied, written with
/// `options` (see [`spirv_options`]); and the descriptor set layouts its
/// bindings need.
fn spirv_of(p: &CompiledPipeline, options: &naga::back::spv::Options) -> Result<(Vec<u32>, SetLayouts)> {
    let fail = |why: String| Error::Shader {
        shader: p.key.clone(),
        reason: why,
    };
    let module = naga::front::wgsl::parse_str(p.source).map_err(|e| fail(e.emit_to_string(p.source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| fail(format!("{e:?}")))?;
    let constants: naga::back::PipelineConstants = p.constants.iter().cloned().collect();
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, "main")),
        &constants,
    )
    .map_err(|e| fail(format!("{e:?}")))?;
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
    };
    let words = naga::back::spv::write_vec(&module, &info, options, Some(&pipeline))
        .map_err(|e| fail(e.to_string()))?;
    let mut sets = SetLayouts::new();
    for (_, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else { continue };
        let kind = match var.space {
            naga::AddressSpace::Uniform => vk::DescriptorType::UNIFORM_BUFFER,
            naga::AddressSpace::Storage { .. } => vk::DescriptorType::STORAGE_BUFFER,
            other => {
                return Err(fail(format!(
                    "binding in {other:?}, which this reader does not lay out"
                )));
            }
        };
        sets.entry(binding.group)
            .or_default()
            .push((binding.binding, kind));
    }
    Ok((words, sets))
}

const EXTENSION: &CStr = ash::khr::pipeline_executable_properties::NAME;

/// Compile `pipelines` on the Vulkan adapter `adapter` (found by the
/// vendor and device ids of wgpu's AdapterInfo) with statistics captured,
/// and read them. Refused where no Vulkan loader or such adapter is
/// found, or its driver lacks the extension ([`check_supported`]).
pub fn pipeline_statistics(
    adapter: &wgpu::AdapterInfo,
    pipelines: &[CompiledPipeline],
) -> Result<Vec<PipelineStatistics>> {
    on_device(adapter, true, |instance, device, options| {
        pipelines
            .iter()
            .map(|p| compile(instance, device, options, p, true))
            .collect()
    })
}

/// Refuse, at once, an adapter whose Vulkan driver does not report
/// pipeline statistics.
pub fn check_supported(adapter: &wgpu::AdapterInfo) -> Result<()> {
    on_device(adapter, true, |_, _, _| Ok(()))
}

/// Compile `pipelines` as [`pipeline_statistics`] does, on a device of the
/// adapter without the extension, reading nothing: that the SPIR-V and
/// layouts made here are ones a driver takes, wherever the statistics are
/// not reported. Returns how many compiled.
pub fn check_compiles(adapter: &wgpu::AdapterInfo, pipelines: &[CompiledPipeline]) -> Result<usize> {
    on_device(adapter, false, |instance, device, options| {
        for p in pipelines {
            compile(instance, device, options, p, false)?;
        }
        Ok(pipelines.len())
    })
}

/// What a device offers that decides wgpu's SPIR-V options.
#[derive(Clone, Copy, Debug)]
struct DeviceTraits {
    api_version: u32,
    robust_buffer_access: bool,
    robust_buffer_access2: bool,
    zero_initialize_workgroup_memory: bool,
}

/// The SPIR-V options wgpu 30's Vulkan backend writes ebmscope's kernels
/// with on a device of `traits` (wgpu-hal's vulkan/adapter.rs and
/// device.rs; ebmscope's pipelines turn loop bounding off).
fn spirv_options(traits: DeviceTraits) -> naga::back::spv::Options<'static> {
    use naga::proc::BoundsCheckPolicy::{Restrict, Unchecked};
    let lang_version = match traits.api_version {
        v if v >= vk::API_VERSION_1_3 => (1, 6),
        v if v >= vk::API_VERSION_1_2 => (1, 5),
        v if v >= vk::API_VERSION_1_1 => (1, 3),
        _ => (1, 0),
    };
    naga::back::spv::Options {
        lang_version,
        bounds_check_policies: naga::proc::BoundsCheckPolicies {
            index: Restrict,
            buffer: if traits.robust_buffer_access2 {
                Unchecked
            } else {
                Restrict
            },
            image_load: Restrict,
            binding_array: Unchecked,
        },
        zero_initialize_workgroup_memory: if traits.zero_initialize_workgroup_memory {
            naga::back::spv::ZeroInitializeWorkgroupMemoryMode::Native
        } else {
            naga::back::spv::ZeroInitializeWorkgroupMemoryMode::Polyfill
        },
        force_loop_bounding: false,
        emit_int_div_checks: true,
        ..Default::default()
    }
}

/// `work` on a Vulkan device of `adapter` made for it: the physical device
/// of its vendor and device ids and driver name (refused where several
/// match: the figures could be another's), with the features wgpu turns
/// on that the SPIR-V options rely on, and the extension and its feature
/// where `statistics`; destroyed after.
fn on_device<T>(
    adapter: &wgpu::AdapterInfo,
    statistics: bool,
    work: impl FnOnce(&ash::Instance, &ash::Device, &naga::back::spv::Options) -> Result<T>,
) -> Result<T> {
    // SAFETY: loads the system's Vulkan loader, as wgpu does.
    let entry = unsafe { ash::Entry::load() }
        .map_err(|e| Error::Config(format!("pipeline statistics need the Vulkan loader ({e})")))?;
    let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_3);
    // SAFETY: a plain instance, destroyed below.
    let instance =
        unsafe { entry.create_instance(&vk::InstanceCreateInfo::default().application_info(&app), None) }
            .map_err(vk_err("vkCreateInstance"))?;
    // (One function, so that the instance is destroyed on every path.)
    let done = || -> Result<T> {
        // SAFETY: the instance is live; the handles come from it, and the
        // structures chained to queries and to the device outlive the calls.
        unsafe {
            let driver_name = |d: vk::PhysicalDevice| {
                let mut driver = vk::PhysicalDeviceDriverProperties::default();
                let mut props = vk::PhysicalDeviceProperties2::default().push_next(&mut driver);
                instance.get_physical_device_properties2(d, &mut props);
                text(driver.driver_name_as_c_str())
            };
            let matching: Vec<vk::PhysicalDevice> = instance
                .enumerate_physical_devices()
                .map_err(vk_err("vkEnumeratePhysicalDevices"))?
                .into_iter()
                .filter(|&d| {
                    let props = instance.get_physical_device_properties(d);
                    props.vendor_id == adapter.vendor
                        && props.device_id == adapter.device
                        && (adapter.driver.is_empty() || driver_name(d) == adapter.driver)
                })
                .collect();
            let physical = match matching[..] {
                [one] => one,
                [] => {
                    return Err(Error::Config(format!(
                        "pipeline statistics: no Vulkan device is {} (vendor {:#x}, device {:#x}, driver \
                         `{}`): run with --backend vulkan",
                        adapter.name, adapter.vendor, adapter.device, adapter.driver
                    )));
                }
                _ => {
                    return Err(Error::Config(format!(
                        "pipeline statistics: {} Vulkan devices are {} with driver `{}`, and the one \
                         wgpu opened is not told apart: run them where it is alone",
                        matching.len(),
                        adapter.name,
                        adapter.driver
                    )));
                }
            };
            let extensions = instance
                .enumerate_device_extension_properties(physical)
                .map_err(vk_err("vkEnumerateDeviceExtensionProperties"))?;
            let has = |name: &CStr| extensions.iter().any(|e| e.extension_name_as_c_str() == Ok(name));
            if statistics && !has(EXTENSION) {
                return Err(Error::Config(format!(
                    "pipeline statistics: the Vulkan driver of {} lacks {}, so it does not report them \
                     (NVIDIA's, AMD's and Intel's drivers have it)",
                    adapter.name,
                    EXTENSION.to_string_lossy()
                )));
            }
            // What it offers of the features wgpu's options rely on.
            let api_version = instance.get_physical_device_properties(physical).api_version;
            let robustness2_ext = ash::ext::robustness2::NAME;
            let zero_init_ext = ash::khr::zero_initialize_workgroup_memory::NAME;
            let has_robustness2 = has(robustness2_ext);
            let has_zero_init = api_version >= vk::API_VERSION_1_3 || has(zero_init_ext);
            let mut robustness2 = vk::PhysicalDeviceRobustness2FeaturesEXT::default();
            let mut zero_init = vk::PhysicalDeviceZeroInitializeWorkgroupMemoryFeatures::default();
            let mut offered = vk::PhysicalDeviceFeatures2::default();
            if has_robustness2 {
                offered = offered.push_next(&mut robustness2);
            }
            if has_zero_init {
                offered = offered.push_next(&mut zero_init);
            }
            instance.get_physical_device_features2(physical, &mut offered);
            let traits = DeviceTraits {
                api_version,
                robust_buffer_access: offered.features.robust_buffer_access == vk::TRUE,
                robust_buffer_access2: has_robustness2 && robustness2.robust_buffer_access2 == vk::TRUE,
                zero_initialize_workgroup_memory: has_zero_init
                    && zero_init.shader_zero_initialize_workgroup_memory == vk::TRUE,
            };
            let family = instance
                .get_physical_device_queue_family_properties(physical)
                .iter()
                .position(|f| f.queue_flags.contains(vk::QueueFlags::COMPUTE))
                .ok_or_else(|| Error::Config("pipeline statistics: no compute queue".into()))?;
            let priorities = [1.0];
            let queues = [vk::DeviceQueueCreateInfo::default()
                .queue_family_index(family as u32)
                .queue_priorities(&priorities)];
            // The features wgpu turns on that the options rely on, and the
            // statistics' own.
            let mut enabled = vec![];
            let core =
                vk::PhysicalDeviceFeatures::default().robust_buffer_access(traits.robust_buffer_access);
            let mut robustness2_on =
                vk::PhysicalDeviceRobustness2FeaturesEXT::default().robust_buffer_access2(true);
            let mut zero_init_on = vk::PhysicalDeviceZeroInitializeWorkgroupMemoryFeatures::default()
                .shader_zero_initialize_workgroup_memory(true);
            let mut executable_info = vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default()
                .pipeline_executable_info(true);
            let mut create = vk::DeviceCreateInfo::default()
                .queue_create_infos(&queues)
                .enabled_features(&core);
            if traits.robust_buffer_access2 {
                enabled.push(robustness2_ext.as_ptr());
                create = create.push_next(&mut robustness2_on);
            }
            if traits.zero_initialize_workgroup_memory {
                if api_version < vk::API_VERSION_1_3 {
                    enabled.push(zero_init_ext.as_ptr());
                }
                create = create.push_next(&mut zero_init_on);
            }
            if statistics {
                enabled.push(EXTENSION.as_ptr());
                create = create.push_next(&mut executable_info);
            }
            let create = create.enabled_extension_names(&enabled);
            let device = instance
                .create_device(physical, &create, None)
                .map_err(vk_err("vkCreateDevice"))?;
            let done = work(&instance, &device, &spirv_options(traits));
            device.destroy_device(None);
            done
        }
    };
    let done = done();
    // SAFETY: nothing made from it is left.
    unsafe { instance.destroy_instance(None) };
    done
}

/// `p` compiled with `options` on `device` (one [`on_device`] made, of
/// `instance`, with them): with
/// its statistics captured and read where `statistics` (the device has
/// the extension then), else compiled alone (no executables).
fn compile(
    instance: &ash::Instance,
    device: &ash::Device,
    options: &naga::back::spv::Options,
    p: &CompiledPipeline,
    statistics: bool,
) -> Result<PipelineStatistics> {
    let (words, sets) = spirv_of(p, options)?;
    // SAFETY (the block): `device` is live, and every handle made here is
    // destroyed before it ends, on every path.
    unsafe {
        let module = device
            .create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&words), None)
            .map_err(vk_err("vkCreateShaderModule"))?;
        let groups = sets.keys().max().map_or(0, |&g| g + 1);
        let mut layouts = Vec::new();
        let mut made = Ok(());
        for group in 0..groups {
            let bindings: Vec<vk::DescriptorSetLayoutBinding> = sets
                .get(&group)
                .into_iter()
                .flatten()
                .map(|&(binding, kind)| {
                    vk::DescriptorSetLayoutBinding::default()
                        .binding(binding)
                        .descriptor_type(kind)
                        .descriptor_count(1)
                        .stage_flags(vk::ShaderStageFlags::COMPUTE)
                })
                .collect();
            match device.create_descriptor_set_layout(
                &vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings),
                None,
            ) {
                Ok(l) => layouts.push(l),
                Err(e) => {
                    made = Err(vk_err("vkCreateDescriptorSetLayout")(e));
                    break;
                }
            }
        }
        let layout = made.and_then(|()| {
            device
                .create_pipeline_layout(
                    &vk::PipelineLayoutCreateInfo::default().set_layouts(&layouts),
                    None,
                )
                .map_err(vk_err("vkCreatePipelineLayout"))
        });
        let run = |layout: vk::PipelineLayout| {
            let stage = vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::COMPUTE)
                .module(module)
                .name(c"main");
            let flags = if statistics {
                vk::PipelineCreateFlags::CAPTURE_STATISTICS_KHR
            } else {
                vk::PipelineCreateFlags::empty()
            };
            let create = vk::ComputePipelineCreateInfo::default()
                .stage(stage)
                .layout(layout)
                .flags(flags);
            let pipeline = device
                .create_compute_pipelines(vk::PipelineCache::null(), &[create], None)
                .map_err(|(_, e)| vk_err("vkCreateComputePipelines")(e))?[0];
            let read = if statistics {
                read_statistics(
                    &ash::khr::pipeline_executable_properties::Device::new(instance, device),
                    pipeline,
                )
            } else {
                Ok(Vec::new())
            };
            device.destroy_pipeline(pipeline, None);
            read
        };
        let read = match layout {
            Ok(layout) => {
                let read = run(layout);
                device.destroy_pipeline_layout(layout, None);
                read
            }
            Err(e) => Err(e),
        };
        for l in layouts {
            device.destroy_descriptor_set_layout(l, None);
        }
        device.destroy_shader_module(module, None);
        Ok(PipelineStatistics {
            key: p.key.clone(),
            executables: read?,
        })
    }
}

/// Each executable of `pipeline` (made with statistics captured): its
/// name, and its statistics' names and values.
///
/// # Safety
/// `pipeline` is live, of the device `executables` was made for.
unsafe fn read_statistics(
    executables: &ash::khr::pipeline_executable_properties::Device,
    pipeline: vk::Pipeline,
) -> Result<Vec<Executable>> {
    // SAFETY: as the function's.
    let props = unsafe {
        executables.get_pipeline_executable_properties(&vk::PipelineInfoKHR::default().pipeline(pipeline))
    }
    .map_err(vk_err("vkGetPipelineExecutablePropertiesKHR"))?;
    props
        .iter()
        .enumerate()
        .map(|(i, props)| {
            let info = vk::PipelineExecutableInfoKHR::default()
                .pipeline(pipeline)
                .executable_index(i as u32);
            // SAFETY: as the function's; `i` is one of its executables.
            let stats = unsafe { executables.get_pipeline_executable_statistics(&info) }
                .map_err(vk_err("vkGetPipelineExecutableStatisticsKHR"))?;
            let named = stats
                .iter()
                .map(|s| (text(s.name_as_c_str()), statistic_value(s)))
                .collect();
            Ok((text(props.name_as_c_str()), named))
        })
        .collect()
}

fn text(s: std::result::Result<&CStr, std::ffi::FromBytesUntilNulError>) -> String {
    s.map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A statistic's value as its format says.
fn statistic_value(s: &vk::PipelineExecutableStatisticKHR) -> String {
    // SAFETY: the union is read as the format the driver set.
    unsafe {
        match s.format {
            vk::PipelineExecutableStatisticFormatKHR::BOOL32 => (s.value.b32 != 0).to_string(),
            vk::PipelineExecutableStatisticFormatKHR::INT64 => s.value.i64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::UINT64 => s.value.u64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::FLOAT64 => s.value.f64.to_string(),
            _ => "?".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options follow what the device offers, as wgpu-hal 30 chooses
    /// them: SPIR-V 1.6 on Vulkan 1.3, bounds checks left to
    /// robustBufferAccess2 where it is there (clamped otherwise), indices
    /// clamped, workgroup memory zeroed natively where the device can.
    #[test]
    fn spirv_options_follow_the_device_as_wgpu_chooses_them() {
        use naga::back::spv::ZeroInitializeWorkgroupMemoryMode as Zero;
        use naga::proc::BoundsCheckPolicy::{Restrict, Unchecked};
        // A device of that Vulkan version offering all three features, or none.
        let device = |api_version, offers| DeviceTraits {
            api_version,
            robust_buffer_access: offers,
            robust_buffer_access2: offers,
            zero_initialize_workgroup_memory: offers,
        };
        let new = spirv_options(device(vk::API_VERSION_1_3, true));
        assert_eq!(new.lang_version, (1, 6));
        assert_eq!(new.bounds_check_policies.buffer, Unchecked);
        assert_eq!(new.bounds_check_policies.index, Restrict);
        assert!(matches!(new.zero_initialize_workgroup_memory, Zero::Native));
        assert!(!new.force_loop_bounding);
        let old = spirv_options(device(vk::API_VERSION_1_1, false));
        assert_eq!(old.lang_version, (1, 3));
        assert_eq!(old.bounds_check_policies.buffer, Restrict);
        assert!(matches!(old.zero_initialize_workgroup_memory, Zero::Polyfill));
    }
}
