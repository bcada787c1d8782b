"""A dock form that stays short: basic fields, a collapsed section for the rest, a scroll area."""

from magicgui.widgets import Container
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QScrollArea, QVBoxLayout, QWidget
from superqt import QCollapsible


def scrolling_form(
    owner: Container, basic: list, advanced: list, below: tuple = (), title: str = "Advanced"
) -> tuple[Container, Container, QCollapsible]:
    """Lay ``basic``, a collapsed ``title`` section of ``advanced`` and ``below`` out in ``owner``.

    The scroll area is inside the dock widget (napari docks a magicgui widget's ``native``, so
    a scrollable magicgui container would lose its scroll bars): the dock can then be short on
    a small screen. Long combo-box choices are elided instead of widening the dock.
    """
    basic_part = Container(widgets=basic, labels=True)
    advanced_part = Container(widgets=advanced, labels=True)
    section = QCollapsible(title)
    section.addWidget(advanced_part.native)
    body = QWidget()
    layout = QVBoxLayout(body)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in (basic_part.native, section, *below):
        layout.addWidget(widget)
    layout.addStretch(1)
    for box in body.findChildren(QComboBox):
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(12)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    owner.native.layout().addWidget(scroll)
    owner.native.setMinimumHeight(200)
    return basic_part, advanced_part, section
