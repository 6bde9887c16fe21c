"""A minimal pygame window that shows RGB frames (used by ``render_mode="human"``)."""

from __future__ import annotations

import numpy as np


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
