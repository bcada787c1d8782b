"""A small matplotlib plot of loss (and PSNR/SSIM) against the outer step."""

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure


class EvolutionPlot(FigureCanvasQTAgg):
    """Loss on a log axis; PSNR on a second axis when a ground truth is given."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(3.2, 1.9), tight_layout=True)
        super().__init__(self.figure)
        self.setMinimumHeight(150)
        self.loss_axis = self.figure.add_subplot(111)
        self.psnr_axis = self.loss_axis.twinx()
        self.clear()

    def clear(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.psnrs: list[float] = []
        self.ssims: list[float] = []
        self._redraw()

    def add(self, step: int, loss: float, psnr: float | None = None, ssim: float | None = None) -> None:
        self.steps.append(len(self.steps) + 1)
        self.losses.append(loss)
        if psnr is not None:
            self.psnrs.append(psnr)
            self.ssims.append(ssim if ssim is not None else float("nan"))
        self._redraw()

    def _redraw(self) -> None:
        self.loss_axis.clear()
        self.psnr_axis.clear()
        self.loss_axis.set_xlabel("outer step", fontsize=8)
        self.loss_axis.set_ylabel("loss", fontsize=8, color="tab:blue")
        self.loss_axis.tick_params(labelsize=7)
        self.psnr_axis.tick_params(labelsize=7)
        if self.losses:
            self.loss_axis.semilogy(self.steps, self.losses, color="tab:blue", marker=".")
        if self.psnrs:
            self.psnr_axis.plot(self.steps[: len(self.psnrs)], self.psnrs, color="tab:red", marker=".")
            self.psnr_axis.set_ylabel("PSNR (dB)", fontsize=8, color="tab:red")
            self.loss_axis.set_title(f"PSNR {self.psnrs[-1]:.2f} dB  SSIM {self.ssims[-1]:.3f}", fontsize=8)
        else:
            self.psnr_axis.set_yticks([])
        self.draw_idle()
