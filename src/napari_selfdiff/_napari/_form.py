"""A dock form that stays short: basic fields, a collapsed section for the rest, a scroll area."""

from magicgui.widgets import Container
from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import QComboBox, QPushButton, QScrollArea, QVBoxLayout, QWidget
from superqt import QCollapsible

#: Least height of a dock (px): the four docks (Blind, Zernike, Non-blind, Degrade) docked
#: together fit a 1366 x 768 window; each scrolls below it.
DOCK_MIN_HEIGHT = 120


class _VerticalScroll(QScrollArea):
    """Scrolls up and down only: at least as wide as its content, so no row is cut on the right."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = super().minimumSizeHint()
        body = self.widget()
        if body is not None:
            bar = self.verticalScrollBar().sizeHint().width()
            hint.setWidth(max(hint.width(), body.minimumSizeHint().width() + bar + 2 * self.frameWidth()))
        return hint


def scrolling(owner: Container, parts: list[QWidget]) -> QScrollArea:
    """Lay ``parts`` out one below the other in a scroll area inside ``owner``.

    The scroll area is inside the dock widget (napari docks a magicgui widget's ``native``, so
    a scrollable magicgui container would lose its scroll bars): the dock can then be short on
    a small screen (:data:`DOCK_MIN_HEIGHT`). Long combo-box choices are elided instead of
    widening the dock.
    """
    body = QWidget()
    layout = QVBoxLayout(body)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in parts:
        layout.addWidget(widget)
    layout.addStretch(1)
    for box in body.findChildren(QComboBox):
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(12)
    scroll = _VerticalScroll()
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    owner.native.layout().addWidget(scroll)
    owner.native.setMinimumHeight(DOCK_MIN_HEIGHT)
    return scroll


def scrolling_form(
    owner: Container, basic: list, advanced: list, below: tuple = (), title: str = "Advanced"
) -> tuple[Container, Container, QCollapsible]:
    """Lay ``basic``, a collapsed ``title`` section of ``advanced`` and ``below`` out in ``owner``."""
    basic_part = Container(widgets=basic, labels=True)
    advanced_part = Container(widgets=advanced, labels=True)
    section = QCollapsible(title)
    section.addWidget(advanced_part.native)
    for toggle in section.findChildren(QPushButton):
        toggle.setToolTip(f"show or hide: {title}")
    scrolling(owner, [basic_part.native, section, *below])
    return basic_part, advanced_part, section
