"""A minimal pygame window that shows RGB frames (used by ``render_mode="human"``), and the check that a window can
be seen at all."""

from __future__ import annotations

import os
import sys

import numpy as np

# pygame is imported only when a window opens (FrameWindow): `import genie_gym` imports this module (the retro env's
# human render mode), and most runs never show a window.

HEADLESS_HINT = "set SDL_VIDEODRIVER=dummy to run without a window"


class DisplayUnavailableError(RuntimeError):
    """Raised when a window is asked for on a Linux machine that has no display (it would be invisible)."""


def require_display(what: str, headless_hint: str = HEADLESS_HINT) -> None:
    """Raise :class:`DisplayUnavailableError` naming ``what`` (and ending with ``headless_hint``) when its window could
    not be seen.

    On Linux a window needs ``DISPLAY`` (X11) or ``WAYLAND_DISPLAY``; without them SDL falls back to a driver that
    shows nothing and the program would run invisibly. An explicit ``SDL_VIDEODRIVER`` (``dummy`` for headless runs,
    or any driver the user chose) is respected. Other systems always have a display.
    """
    if not sys.platform.startswith("linux") or os.environ.get("SDL_VIDEODRIVER"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    raise DisplayUnavailableError(f"{what} needs a display, but neither DISPLAY nor WAYLAND_DISPLAY is set, so the "
                                  f"window would be invisible: run it in a desktop session (or ssh -X), or "
                                  f"{headless_hint}")


class FrameWindow:
    """Shows ``(H, W, 3)`` uint8 RGB frames scaled by an integer factor; pygame is imported lazily."""

    def __init__(self, title: str = "genie-gym", scale: int = 3) -> None:
        import pygame

        self._pygame = pygame
        pygame.display.init()
        pygame.display.set_caption(title)
        self.scale = int(scale)
        self._surface = None

    def show(self, frame: np.ndarray) -> None:
        """Draw one frame and process window events (so the OS does not mark the window unresponsive)."""
        pygame = self._pygame
        height, width = frame.shape[:2]
        size = (width * self.scale, height * self.scale)
        if self._surface is None or self._surface.get_size() != size:
            self._surface = pygame.display.set_mode(size)
        image = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._surface.blit(pygame.transform.scale(image, size), (0, 0))
        pygame.display.flip()
        pygame.event.pump()

    def close(self) -> None:
        """Close the window."""
        self._pygame.display.quit()
