//! The LibTorch calls of the torch backend (feature `torch`): build the
//! leaves on the device, run the layer through a native op or through the
//! model's definitions as elementary tensor ops, and differentiate with
//! autograd up to order three (`create_graph`).

use super::{Device, Dtype, Native, Path, Problem, Quantity, Variant};
use crate::ir::{Expr, Fun, RedOp};
use num_traits::ToPrimitive;
use std::collections::BTreeMap;
use tch::{Kind, TchError, Tensor};

type R<T> = Result<T, TchError>;

pub fn available(device: Device) -> Result<(), String> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda if tch::Cuda::is_available() => Ok(()),
        Device::Cuda => Err(format!(
            "CUDA is not available to LibTorch here ({} CUDA devices; a GPU, its driver and \
             LibTorch's CUDA libraries are needed)",
            tch::Cuda::device_count()
        )),
    }
}

fn tdevice(d: Device) -> tch::Device {
    match d {
        Device::Cpu => tch::Device::Cpu,
        Device::Cuda => tch::Device::Cuda(0),
    }
}

fn kind(d: Dtype) -> Kind {
    match d {
        Dtype::F64 => Kind::Double,
        Dtype::F32 => Kind::Float,
    }
}

pub fn run(
    p: &Problem,
    path: Path,
    variant: Variant,
    lo: u8,
    hi: u8,
) -> Result<Vec<(Quantity, Vec<f64>)>, String> {
    if let Some(c) = variant.cudnn {
        tch::Cuda::set_user_enabled_cudnn(c);
    }
    // LibTorch appends a C++ backtrace: keep the message.
    run_inner(p, path, variant, lo, hi).map_err(|e| {
        let e = e.to_string();
        e.lines().next().unwrap_or("").to_string()
    })
}

struct Ctx {
    kind: Kind,
    device: tch::Device,
    cudnn: bool,
}

impl Ctx {
    fn scalar(&self, v: f64) -> R<Tensor> {
        Tensor::from(v)
            .f_to_kind(self.kind)?
            .f_to_device(self.device)
    }
}

fn run_inner(
    p: &Problem,
    path: Path,
    variant: Variant,
    lo: u8,
    hi: u8,
) -> R<Vec<(Quantity, Vec<f64>)>> {
    let ctx = Ctx {
        kind: kind(variant.dtype),
        device: tdevice(variant.device),
        cudnn: variant.cudnn.unwrap_or(false),
    };
    let mut leaves: BTreeMap<&str, Tensor> = BTreeMap::new();
    for (name, l) in &p.leaves {
        let t = Tensor::from_slice(&l.data)
            .f_reshape(l.dims.as_slice())?
            .f_to_kind(ctx.kind)?
            .f_to_device(ctx.device)?
            .f_set_requires_grad(l.grad)?;
        leaves.insert(name, t);
    }
    let get = |n: &str| {
        leaves
            .get(n)
            .ok_or_else(|| TchError::Kind(format!("no tensor `{n}`")))
    };
    let y = match path {
        Path::Native(op) => native(op, p, &leaves, &ctx)?,
        Path::Composed => composed(p, &leaves, &ctx)?,
    };
    let dy = get(&p.dy)?;
    let y = y.f_reshape(dy.size())?;
    let loss = y.f_mul(dy)?.f_sum(ctx.kind)?;
    let vars: Vec<String> = match path {
        Path::Native(op) => op
            .differentiable()
            .iter()
            .map(|s| s.to_string())
            .filter(|s| leaves.contains_key(s.as_str()))
            .collect(),
        Path::Composed => p.variables(),
    };
    let inputs: Vec<&Tensor> = vars.iter().map(|n| get(n)).collect::<R<_>>()?;
    let higher = hi >= 2 && p.higher.is_some();
    let grads = Tensor::f_run_backward(&[&loss], &inputs, true, higher)?;
    let mut out = Vec::new();
    if lo <= 1 {
        for ((n, g), t) in vars.iter().zip(&grads).zip(&inputs) {
            out.push((Quantity::Grad(n.clone()), values(g, t)?));
        }
    }
    if !higher {
        return Ok(out);
    }
    let Some(names) = &p.higher else {
        return Ok(out);
    };
    let input = &names.input;
    let ix = vars
        .iter()
        .position(|n| n == input)
        .ok_or_else(|| TchError::Kind(format!("orders 2 and 3 need the input {input}")))?;
    let x = get(input)?;
    let v = get(&names.direction)?;
    let s = grads[ix].f_mul(v)?.f_sum(ctx.kind)?;
    let mut wrt = vec![(Quantity::Hvp(input.clone()), x)];
    if let Some(p) = &names.param {
        wrt.push((Quantity::Mixed(p.clone()), get(p)?));
    }
    wrt.push((Quantity::MixedDy, dy));
    let ts: Vec<&Tensor> = wrt.iter().map(|(_, t)| *t).collect();
    let g2 = Tensor::f_run_backward(&[&s], &ts, true, hi >= 3)?;
    for ((q, t), g) in wrt.iter().zip(&g2) {
        out.push((q.clone(), values(g, t)?));
    }
    // A layer linear in x (eval mode) has no second derivative in x: the
    // gradient is undefined, i.e. zero, and there is no graph to go on.
    if hi >= 3 && g2[0].defined() && g2[0].requires_grad() {
        let t = g2[0].f_mul(v)?.f_sum(ctx.kind)?;
        let g3 = Tensor::f_run_backward(&[&t], &[x], false, false)?;
        out.push((Quantity::Third(input.clone()), values(&g3[0], x)?));
    } else if hi >= 3 {
        out.push((Quantity::Third(input.clone()), values(&Tensor::new(), x)?));
    }
    Ok(out)
}

/// Row-major f64 values on the CPU of the gradient `g` of `input`; an
/// undefined gradient (the output does not depend on it) is zero.
fn values(g: &Tensor, input: &Tensor) -> R<Vec<f64>> {
    if !g.defined() {
        return Ok(vec![0.0; input.numel()]);
    }
    let t = g
        .f_detach()?
        .f_to_kind(Kind::Double)?
        .f_to_device(tch::Device::Cpu)?
        .f_contiguous()?
        .f_reshape([-1])?;
    Vec::<f64>::try_from(&t)
}

fn native(op: Native, p: &Problem, t: &BTreeMap<&str, Tensor>, ctx: &Ctx) -> R<Tensor> {
    let get = |n: &str| {
        t.get(n)
            .ok_or_else(|| TchError::Kind(format!("{} needs a tensor `{n}`", op.name())))
    };
    let eps = p
        .leaves
        .get("eps")
        .and_then(|l| l.data.first().copied())
        .ok_or_else(|| TchError::Kind(format!("{} needs a constant eps", op.name())))?;
    let x = get("x")?;
    let gamma = get("gamma")?;
    let channels = gamma.numel() as i64;
    let w = gamma.f_reshape([channels])?;
    let beta = || get("beta")?.f_reshape([channels]);
    // One activation per example: (N) → (N, 1).
    let as_nc = |x: &Tensor| {
        if x.dim() == 1 {
            x.f_reshape([-1, 1])
        } else {
            Ok(x.shallow_clone())
        }
    };
    let momentum = 0.1;
    match op {
        Native::BatchNormTrain | Native::BatchNormEval => {
            let training = op == Native::BatchNormTrain;
            let (rm, rv) = if training {
                // Fresh running statistics, updated in place as nn.BatchNorm does.
                (
                    Tensor::f_zeros([channels], (ctx.kind, ctx.device))?,
                    Tensor::f_ones([channels], (ctx.kind, ctx.device))?,
                )
            } else {
                // Running statistics are buffers, not differentiated by the op.
                (
                    get("running_mean")?.f_detach()?.f_reshape([channels])?,
                    get("running_var")?.f_detach()?.f_reshape([channels])?,
                )
            };
            as_nc(x)?.f_batch_norm(
                Some(&w),
                Some(&beta()?),
                Some(&rm),
                Some(&rv),
                training,
                momentum,
                eps,
                ctx.cudnn,
            )
        }
        Native::LayerNorm => x.f_layer_norm([channels], Some(&w), Some(&beta()?), eps, ctx.cudnn),
        Native::InstanceNorm => x.f_instance_norm(
            Some(&w),
            Some(&beta()?),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            momentum,
            eps,
            ctx.cudnn,
        ),
        Native::GroupNorm => {
            // (n, g, k, h, w) → (n, g·k, h, w): channel g·K + k.
            let s = x.size();
            if s.len() != 5 {
                return Err(TchError::Kind("group_norm wants x[n,g,k,h,w]".into()));
            }
            x.f_reshape([s[0], s[1] * s[2], s[3], s[4]])?.f_group_norm(
                s[1],
                Some(&w),
                Some(&beta()?),
                eps,
                ctx.cudnn,
            )
        }
        Native::RmsNorm => x.f_rms_norm([channels], Some(&w), Some(eps)),
    }
}

/// The model's definitions as elementary tensor ops, every tensor with one
/// dimension per model axis (size 1 where it does not vary).
fn composed(p: &Problem, leaves: &BTreeMap<&str, Tensor>, ctx: &Ctx) -> R<Tensor> {
    let mut vals: BTreeMap<String, Tensor> = BTreeMap::new();
    for (name, l) in &p.leaves {
        if let Some(t) = leaves.get(name.as_str()) {
            vals.insert(name.clone(), t.f_reshape(p.full_dims(&l.axes).as_slice())?);
        }
    }
    for (name, e) in &p.model.defs {
        let t = expr(e, p, &vals, ctx)?;
        vals.insert(name.clone(), t);
    }
    let out = p
        .model
        .outputs
        .first()
        .ok_or_else(|| TchError::Kind("the model has no output".into()))?;
    let y = vals
        .get(out)
        .ok_or_else(|| TchError::Kind(format!("no value for `{out}`")))?;
    // The output may be constant along axes of dy: broadcast it to them.
    let full = p.full_dims(&p.leaves[&p.dy].axes);
    let y = y.f_expand(full.as_slice(), false)?;
    let dy_dims = &p.leaves[&p.dy].dims;
    y.f_reshape(dy_dims.as_slice())
}

fn expr(e: &Expr, p: &Problem, vals: &BTreeMap<String, Tensor>, ctx: &Ctx) -> R<Tensor> {
    let ev = |a: &Expr| expr(a, p, vals, ctx);
    Ok(match e {
        Expr::Num(r) => ctx.scalar(r.to_f64().unwrap_or(f64::NAN))?,
        Expr::Sym(s) => vals
            .get(&s.name)
            .ok_or_else(|| TchError::Kind(format!("no value for `{}`", s.name)))?
            .shallow_clone(),
        Expr::Neg(a) => ev(a)?.f_neg()?,
        Expr::Add(a, b) => ev(a)?.f_add(&ev(b)?)?,
        Expr::Sub(a, b) => ev(a)?.f_sub(&ev(b)?)?,
        Expr::Mul(a, b) => ev(a)?.f_mul(&ev(b)?)?,
        Expr::Div(a, b) => ev(a)?.f_div(&ev(b)?)?,
        Expr::Sqrt(a) => ev(a)?.f_sqrt()?,
        Expr::App(f, args) => {
            let x = ev(&args[0])?;
            match f {
                Fun::Exp => x.f_exp()?,
                // log |x| with log 0 = 0; the inner `where` keeps the
                // gradient at 0 finite (it is 0 there, as 1/0 = 0).
                Fun::Log => {
                    let zero = x.f_eq(0.0)?;
                    let safe = x.f_where_self(&zero.f_logical_not()?, &x.f_ones_like()?)?;
                    safe.f_abs()?
                        .f_log()?
                        .f_where_self(&zero.f_logical_not()?, &x.f_zeros_like()?)?
                }
                Fun::Abs => x.f_abs()?,
                Fun::Max => x.f_maximum(&ev(&args[1])?)?,
                Fun::Min => x.f_minimum(&ev(&args[1])?)?,
                Fun::Detach => x.f_detach()?,
            }
        }
        Expr::Pow(a, k) => {
            let k = k
                .const_value()
                .and_then(|k| k.to_f64())
                .ok_or_else(|| TchError::Kind("non-constant exponent".into()))?;
            ev(a)?.f_pow_tensor_scalar(k)?
        }
        Expr::Reduce(op, axes, body) => {
            let mut b = ev(body)?;
            if b.dim() == 0 {
                // A number (`sum[n](1)`): one entry on every axis first.
                b = b.f_reshape(p.full_dims(&[]).as_slice())?;
            }
            // A body constant along a reduced axis still counts its size.
            let mut target = b.size();
            let mut dims = Vec::new();
            for a in axes {
                let k = p
                    .axis_index(a)
                    .ok_or_else(|| TchError::Kind(format!("unknown axis `{a}`")))?;
                target[k as usize] = p.sizes.get(a).copied().unwrap_or(1) as i64;
                dims.push(k);
            }
            let b = b.f_expand(target.as_slice(), false)?;
            let mean = |t: &Tensor| t.f_mean_dim(dims.as_slice(), true, None::<Kind>);
            match op {
                RedOp::Mean => mean(&b)?,
                RedOp::Sum => b.f_sum_dim_intlist(dims.as_slice(), true, None::<Kind>)?,
                RedOp::Var => {
                    let d = b.f_sub(&mean(&b)?)?;
                    mean(&d.f_mul(&d)?)?
                }
            }
        }
        Expr::PVar(v) => return Err(TchError::Kind(format!("pattern variable ?{v}"))),
    })
}

/// Load a TorchScript module onto `device`, call its `forward` with the
/// arrays positionally, and read back the tensors it returns (one, or a
/// tuple or list of them), in order. bnproof never differentiates it.
pub fn run_module(
    path: &std::path::Path,
    args: &[super::ModuleArg],
    device: Device,
) -> Result<Vec<super::ModuleResult>, String> {
    let first_line = |e: TchError| {
        let e = e.to_string();
        e.lines().next().unwrap_or("").to_string()
    };
    let module = tch::CModule::load_on_device(path, tdevice(device))
        .map_err(|e| format!("cannot load the TorchScript module: {}", first_line(e)))?;
    let inputs = args
        .iter()
        .map(|a| {
            let shape: Vec<i64> = a.shape.iter().map(|&n| n as i64).collect();
            Tensor::from_slice(&a.data)
                .f_reshape(shape.as_slice())?
                .f_to_kind(kind(a.dtype))?
                .f_to_device(tdevice(device))
                .map(tch::IValue::Tensor)
        })
        .collect::<R<Vec<_>>>()
        .map_err(first_line)?;
    let out = module
        .forward_is(&inputs)
        .map_err(|e| format!("the module's forward failed: {}", first_line(e)))?;
    let tensors = match out {
        tch::IValue::Tensor(t) => vec![t],
        tch::IValue::TensorList(ts) => ts,
        tch::IValue::Tuple(vs) | tch::IValue::GenericList(vs) => vs
            .into_iter()
            .enumerate()
            .map(|(k, v)| match v {
                tch::IValue::Tensor(t) => Ok(t),
                other => Err(format!(
                    "the module's forward returned a {} at position {k}, not a tensor",
                    ivalue_kind(&other)
                )),
            })
            .collect::<Result<_, String>>()?,
        other => {
            return Err(format!(
                "the module's forward returned a {}, not tensors",
                ivalue_kind(&other)
            ))
        }
    };
    tensors
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let dtype = match t.kind() {
                Kind::Double => Dtype::F64,
                Kind::Float => Dtype::F32,
                other => {
                    return Err(format!(
                        "returned tensor {k} has dtype {other:?}; float64 or float32 expected"
                    ))
                }
            };
            let shape = t.size().iter().map(|&n| n as usize).collect();
            let data = values(t, t).map_err(first_line)?;
            Ok(super::ModuleResult { shape, data, dtype })
        })
        .collect()
}

fn ivalue_kind(v: &tch::IValue) -> &'static str {
    match v {
        tch::IValue::None => "None",
        tch::IValue::Double(_) | tch::IValue::Int(_) | tch::IValue::Bool(_) => "number",
        tch::IValue::String(_) => "string",
        tch::IValue::GenericDict(_) => "dict",
        _ => "value of another kind",
    }
}
