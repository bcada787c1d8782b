"""A small matplotlib plot of loss (and PSNR/SSIM) against the outer step."""

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: Up to this many plane groups get a curve each; more are shown as their mean per step.
MAX_CURVES = 4
FONT = 7


class EvolutionPlot(FigureCanvasQTAgg):
    """Loss per outer step on a log axis, one curve per plane group (or their mean); PSNR in red.

    Nothing is drawn before the first point; the x axis counts outer steps (integers); the
    PSNR and SSIM of the last step are in the title, so no second axis label competes with
    the loss ticks.
    """

    def __init__(self) -> None:
        self.figure = Figure(figsize=(3.2, 1.9), layout="constrained")
        super().__init__(self.figure)
        self.setMinimumHeight(150)
        self.loss_axis = self.figure.add_subplot(111)
        self.psnr_axis = self.loss_axis.twinx()
        self.clear()

    def clear(self) -> None:
        self.groups: list[int] = []
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.psnrs: list[float] = []
        self.ssims: list[float] = []
        self._redraw()

    def add(
        self, step: int, loss: float, psnr: float | None = None, ssim: float | None = None, group: int = 0
    ) -> None:
        self.groups.append(group)
        self.steps.append(step)
        self.losses.append(loss)
        if psnr is not None:
            self.psnrs.append(psnr)
            self.ssims.append(ssim if ssim is not None else float("nan"))
        self._redraw()

    def curves(self) -> list[tuple[str, list[int], list[float]]]:
        """(label, steps, losses) per plane group, or one mean curve over many groups."""
        groups = sorted(set(self.groups))
        if len(groups) <= MAX_CURVES:
            return [
                (f"plane {g + 1}" if len(groups) > 1 else "loss",
                 [s for s, h in zip(self.steps, self.groups, strict=True) if h == g],
                 [v for v, h in zip(self.losses, self.groups, strict=True) if h == g])
                for g in groups
            ]  # fmt: skip
        steps = sorted(set(self.steps))
        by_step = {s: [v for v, t in zip(self.losses, self.steps, strict=True) if t == s] for s in steps}
        return [(f"mean of {len(groups)} planes", steps, [float(np.mean(by_step[s])) for s in steps])]

    def _redraw(self) -> None:
        self.loss_axis.clear()
        self.psnr_axis.clear()
        shown = bool(self.losses)
        self.setVisible(shown)  # no empty box before the first point (the classic estimate has none)
        self.loss_axis.set_visible(shown)
        self.psnr_axis.set_visible(shown and bool(self.psnrs))
        if shown:
            for label, steps, losses in self.curves():
                self.loss_axis.semilogy(steps, losses, marker=".", label=label)
            if len(self.curves()) > 1 or len(set(self.groups)) > MAX_CURVES:
                self.loss_axis.legend(fontsize=FONT - 1, frameon=False)
            self.loss_axis.set_xlabel("outer step", fontsize=FONT + 1)
            self.loss_axis.set_ylabel("loss", fontsize=FONT + 1)
            self.loss_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            self.loss_axis.tick_params(which="both", labelsize=FONT)
        if shown and self.psnrs:
            steps = self.steps[: len(self.psnrs)]
            self.psnr_axis.plot(steps, self.psnrs, color="tab:red", marker=".", linestyle=":")
            self.psnr_axis.tick_params(which="both", labelsize=FONT, colors="tab:red")
            title = f"PSNR (red) {self.psnrs[-1]:.2f} dB, SSIM {self.ssims[-1]:.3f}"
            self.loss_axis.set_title(title, fontsize=FONT + 1)
        self.draw_idle()
