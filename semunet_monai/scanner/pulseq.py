"""Masks a scanner can play, written as Pulseq sequences with pypulseq.

- A ``lines`` mask (whole phase-encode columns of an ``(H, W)`` mask: readout along H) becomes a 2-D Cartesian
  spoiled GRE that acquires only the sampled phase-encode lines.
- A ``(ky, kz)`` mask (``poisson``, or any 2-D pattern meant for a 3-D acquisition's phase-encode plane) becomes a 3-D
  Cartesian spoiled GRE that acquires only the sampled ``(ky, kz)`` pairs; the readout ``kx`` is always full.

The sequence must pass pypulseq's timing check for the stated system limits. :func:`sampled_table` recovers the
phase-encode table from the k-space positions pypulseq computes for the written sequence (the round trip).
A 2-D pixel mask learned for the ``(kx, ky)`` plane of 2-D slices cannot be played by either sequence (a 2-D
acquisition samples whole lines) and is refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["GreSettings", "gre_2d", "gre_3d", "lines_of", "sampled_table", "write_sequence"]


@dataclass
class GreSettings:
    """Sequence and system settings (SI units, angles in degrees).

    The system limits default to a conservative clinical 3 T gradient set (28 mT/m, 150 T/m/s), within what
    pypulseq's examples use; the timing defaults give a spoiled GRE at TR 12 ms, TE 5 ms for a 96-192 matrix.
    """

    fov: float = 0.23
    thickness: float = 3e-3  # slice (2-D) or slab (3-D) thickness
    tr: float = 12e-3
    te: float = 5e-3
    flip: float = 15.0
    readout_time: float = 3.2e-3
    max_grad: float = 28.0  # mT/m
    max_slew: float = 150.0  # T/m/s


def _system(s: GreSettings):
    import pypulseq as pp

    return pp.Opts(
        max_grad=s.max_grad,
        grad_unit="mT/m",
        max_slew=s.max_slew,
        slew_unit="T/m/s",
        rf_ringdown_time=20e-6,
        rf_dead_time=100e-6,
        adc_dead_time=10e-6,
    )


def lines_of(mask: np.ndarray) -> np.ndarray:
    """The sampled phase-encode columns ``(W,)`` of a lines mask ``(H, W)``; refuses masks that sample part of a
    column (a 2-D pixel mask), which a 2-D sequence cannot play."""
    mask = np.asarray(mask, dtype=bool)
    columns = mask.any(axis=0)
    if not (mask[:, columns].all()):
        raise ValueError(
            "the mask samples parts of phase-encode lines: a 2-D acquisition samples whole lines (use a 'lines' "
            "mask, or a (ky, kz) mask such as 'poisson' for a 3-D acquisition)."
        )
    return columns


def _gre(nx: int, table: list[tuple[int, ...]], sizes: tuple[int, ...], s: GreSettings, three_d: bool):
    import pypulseq as pp

    system = _system(s)
    seq = pp.Sequence(system)
    rf, gz, _ = pp.make_sinc_pulse(
        flip_angle=math.radians(s.flip),
        duration=3e-3,
        slice_thickness=s.thickness,
        apodization=0.42,
        time_bw_product=4,
        system=system,
        return_gz=True,
        use="excitation",
        delay=system.rf_dead_time,
    )
    deltak = 1.0 / s.fov
    # the ADC dwell must sit on the ADC raster and the readout on the gradient raster: a whole number of 10 us
    dwell = max(1, round(s.readout_time / nx / system.grad_raster_time)) * system.grad_raster_time
    gx = pp.make_trapezoid(channel="x", flat_area=nx * deltak, flat_time=nx * dwell, system=system)
    adc = pp.make_adc(num_samples=nx, duration=gx.flat_time, delay=gx.rise_time, system=system)
    gx_pre = pp.make_trapezoid(channel="x", area=-gx.area / 2, duration=1e-3, system=system)
    gz_reph = pp.make_trapezoid(channel="z", area=-gz.area / 2, duration=1e-3, system=system)
    gx_spoil = pp.make_trapezoid(channel="x", area=2 * nx * deltak, system=system)
    gz_spoil = pp.make_trapezoid(channel="z", area=4 / s.thickness, system=system)
    pre = pp.calc_duration(gx_pre, gz_reph)
    raster = seq.grad_raster_time
    delay_te = math.ceil((s.te - pp.calc_duration(gz) / 2 - pre - pp.calc_duration(gx) / 2) / raster) * raster
    # the last block of each TR holds the spoilers (in 3-D after a block of rewinders) and fills the TR
    spoil = pp.calc_duration(gx_spoil, gz_spoil) + (pre if three_d else 0.0)
    delay_tr = math.ceil((s.tr - pp.calc_duration(gz) - pre - delay_te - pp.calc_duration(gx)) / raster) * raster
    if delay_te < 0 or delay_tr < spoil:
        raise ValueError(
            f"TE {s.te * 1e3:g} ms / TR {s.tr * 1e3:g} ms are too short for this readout and these gradient limits "
            f"(at least {(s.te - min(delay_te, 0.0)) * 1e3:.2f} ms / {(s.tr - delay_tr + spoil) * 1e3:.2f} ms); "
            f"raise --te/--tr."
        )
    ny = sizes[0]
    rf_phase, rf_inc = 0.0, 0.0
    for entry in table:
        rf.phase_offset = math.radians(rf_phase)  # RF spoiling, 117 degree increments
        adc.phase_offset = math.radians(rf_phase)
        rf_inc = (rf_inc + 117.0) % 360.0
        rf_phase = (rf_phase + rf_inc) % 360.0
        seq.add_block(rf, gz)
        gy = pp.make_trapezoid(channel="y", area=(entry[0] - ny // 2) * deltak, duration=pre, system=system)
        if three_d:
            nz = sizes[1]
            area_z = (entry[1] - nz // 2) / s.thickness - gz.area / 2  # kz encode with the slab rephaser
            gz_pe = pp.make_trapezoid(channel="z", area=area_z, duration=pre, system=system)
            seq.add_block(gx_pre, gy, gz_pe)
        else:
            seq.add_block(gx_pre, gy, gz_reph)
        seq.add_block(pp.make_delay(delay_te))
        seq.add_block(gx, adc)
        gy.amplitude = -gy.amplitude  # rewind the phase encode
        if three_d:
            gz_rew = pp.make_trapezoid(
                channel="z", area=-(entry[1] - nz // 2) / s.thickness, duration=pre, system=system
            )
            seq.add_block(gy, gz_rew)
            seq.add_block(pp.make_delay(max(delay_tr - pre, raster)), gx_spoil, gz_spoil)
        else:
            seq.add_block(pp.make_delay(delay_tr), gx_spoil, gy, gz_spoil)
    ok, report = seq.check_timing()
    if not ok:
        raise ValueError(f"the sequence fails pypulseq's timing check: {' '.join(str(r) for r in report)[:300]}")
    seq.set_definition("FOV", [s.fov, s.fov, s.thickness])
    seq.set_definition("Name", "semunet_gre3d" if three_d else "semunet_gre2d")
    return seq


def gre_2d(lines: np.ndarray, nx: int, settings: GreSettings | None = None):
    """A 2-D spoiled GRE acquiring the sampled phase-encode lines ``lines`` ``(Ny,)`` (boolean), ``nx`` readout
    samples each, in increasing ky."""
    table = [(int(i),) for i in np.flatnonzero(np.asarray(lines, dtype=bool))]
    return _gre(int(nx), table, (len(lines),), settings or GreSettings(), three_d=False)


def gre_3d(kykz: np.ndarray, nx: int, settings: GreSettings | None = None):
    """A 3-D spoiled GRE acquiring the sampled ``(ky, kz)`` pairs of ``kykz`` ``(Ny, Nz)`` (boolean), in
    ky-major order, ``nx`` readout samples each."""
    kykz = np.asarray(kykz, dtype=bool)
    table = [(int(y), int(z)) for y, z in zip(*np.nonzero(kykz))]
    return _gre(int(nx), table, kykz.shape, settings or GreSettings(thickness=0.144, tr=15e-3), three_d=True)


def sampled_table(seq, shape: tuple[int, ...], settings: GreSettings) -> np.ndarray:
    """The phase-encode table a sequence acquires, from the k-space positions pypulseq computes for it: boolean
    ``(Ny,)`` for 2-D, ``(Ny, Nz)`` for 3-D (``shape``), each ADC's ky (and kz) rounded to the grid."""
    k_adc = seq.calculate_kspace()[0]
    ky = k_adc[1] * settings.fov + shape[0] // 2
    index_y = np.rint(ky).astype(int)
    if np.abs(ky - index_y).max() > 1e-3:
        raise ValueError("the sequence's ky positions are off the Cartesian grid.")
    table = np.zeros(shape, dtype=bool)
    if len(shape) == 1:
        table[np.unique(index_y)] = True
        return table
    kz = k_adc[2] * settings.thickness + shape[1] // 2
    index_z = np.rint(kz).astype(int)
    if np.abs(kz - index_z).max() > 1e-3:
        raise ValueError("the sequence's kz positions are off the Cartesian grid.")
    table[index_y, index_z] = True
    return table


def write_sequence(mask: np.ndarray, geometry: str, out: str | Path, settings: GreSettings | None = None, nx=None):
    """Write ``out`` (``.seq``) for ``mask`` and, beside it, the acquisition order (``<stem>_order.csv``), the mask
    as the scanner plays it (``<stem>_table.npy``), the settings (``<stem>.json``) and a PNG of the k-space sampling
    pypulseq computes from the sequence (``<stem>_kspace.png``). Returns the written paths.

    Args:
        mask: boolean ``(H, W)``.
        geometry: ``"lines"`` (2-D GRE; readout along H) or ``"kykz"`` (3-D GRE; the mask is the (ky, kz) plane).
        nx: readout samples for ``kykz`` (default: H).
    """
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    mask = np.asarray(mask, dtype=bool)
    if geometry == "lines":
        settings = settings or GreSettings()
        table = lines_of(mask)
        seq = gre_2d(table, mask.shape[0], settings)
    elif geometry == "kykz":
        settings = settings or GreSettings(thickness=0.144, tr=15e-3)
        table = mask
        seq = gre_3d(table, nx or mask.shape[0], settings)
    else:
        raise ValueError(f"geometry must be 'lines' (2-D GRE) or 'kykz' (3-D GRE), got {geometry!r}.")
    played = sampled_table(seq, table.shape, settings)
    if not np.array_equal(played, table):
        raise ValueError("internal error: the written sequence does not acquire the mask's phase-encode table.")
    out.parent.mkdir(parents=True, exist_ok=True)
    seq.write(str(out))
    stem = out.with_suffix("")
    order = np.argwhere(table) if table.ndim == 2 else np.flatnonzero(table)[:, None]
    header = "ky,kz" if table.ndim == 2 else "ky"
    np.savetxt(f"{stem}_order.csv", order, fmt="%d", delimiter=",", header=header, comments="")
    np.save(f"{stem}_table.npy", table)
    meta = {"geometry": geometry, "shape": list(table.shape), "acquired": int(table.sum()), **asdict(settings)}
    meta["readout"] = int(nx or mask.shape[0]) if geometry == "kykz" else int(mask.shape[0])
    meta["duration_s"] = float(seq.duration()[0])
    Path(f"{stem}.json").write_text(json.dumps(meta, indent=2))
    k_adc = seq.calculate_kspace()[0]
    fig, ax = plt.subplots(figsize=(4, 4))
    if table.ndim == 1:
        ax.plot(k_adc[0], k_adc[1], ".", markersize=1)
        ax.set_xlabel("kx (1/m)")
        ax.set_ylabel("ky (1/m)")
    else:
        ax.plot(k_adc[1], k_adc[2], ".", markersize=2)
        ax.set_xlabel("ky (1/m)")
        ax.set_ylabel("kz (1/m)")
    ax.set_title(f"{geometry}: {int(table.sum())} phase encodes, {meta['duration_s']:.1f} s")
    fig.tight_layout()
    fig.savefig(f"{stem}_kspace.png", dpi=100)
    plt.close(fig)
    return {
        "seq": out,
        "order": Path(f"{stem}_order.csv"),
        "table": Path(f"{stem}_table.npy"),
        "json": Path(f"{stem}.json"),
        "png": Path(f"{stem}_kspace.png"),
    }
