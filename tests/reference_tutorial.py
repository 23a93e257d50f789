"""The tutorial's own YOLOv11Backbone, transcribed from ../shared/seed (notebook 2 of 5), as a test oracle.

Only the tests import this: it is the independent source that the engine's backbone is compared
against (same weights from the same seed, same outputs, same state_dict keys). Kept as the notebook
wrote it, in-place SiLU and all.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ConvBNSiLU(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding=None, groups=1):
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, in_channels, out_channels, shortcut=True, kernel_size=(3, 3), expansion=0.5):
        super().__init__()
        hidden = int(out_channels * expansion)
        self.cv1 = ConvBNSiLU(in_channels, hidden, kernel_size[0])
        self.cv2 = ConvBNSiLU(hidden, out_channels, kernel_size[1])
        self.add = shortcut and in_channels == out_channels

    def forward(self, x):
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C3k2(nn.Module):
    def __init__(self, in_channels, out_channels, n=1, shortcut=True, expansion=0.5):
        super().__init__()
        self.c = int(out_channels * expansion)
        self.cv1 = ConvBNSiLU(in_channels, 2 * self.c, 1)
        self.cv2 = ConvBNSiLU((2 + n) * self.c, out_channels, 1)
        self.bottlenecks = nn.ModuleList(
            Bottleneck(self.c, self.c, shortcut, kernel_size=(3, 3), expansion=1.0) for _ in range(n)
        )

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, dim=1))
        for bn in self.bottlenecks:
            y.append(bn(y[-1]))
        return self.cv2(torch.cat(y, dim=1))


class SPPF(nn.Module):
    def __init__(self, in_channels, out_channels, k=5):
        super().__init__()
        hidden = in_channels // 2
        self.cv1 = ConvBNSiLU(in_channels, hidden, 1)
        self.cv2 = ConvBNSiLU(hidden * 4, out_channels, 1)
        self.pool = nn.MaxPool2d(k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        y3 = self.pool(y2)
        return self.cv2(torch.cat([x, y1, y2, y3], dim=1))


class YOLOv11Backbone(nn.Module):
    def __init__(self, in_channels=3, base_channels=64):
        super().__init__()
        c1 = base_channels
        c2 = c1 * 2
        c3 = c2 * 2
        c4 = c3 * 2
        c5 = c4 * 2
        self.stem = ConvBNSiLU(in_channels, c1, 3, stride=2)
        self.stage1_down = ConvBNSiLU(c1, c2, 3, stride=2)
        self.stage1_c3k2 = C3k2(c2, c2, n=2, shortcut=True)
        self.stage2_down = ConvBNSiLU(c2, c3, 3, stride=2)
        self.stage2_c3k2 = C3k2(c3, c3, n=2, shortcut=True)
        self.stage3_down = ConvBNSiLU(c3, c4, 3, stride=2)
        self.stage3_c3k2 = C3k2(c4, c4, n=2, shortcut=True)
        self.stage4_down = ConvBNSiLU(c4, c5, 3, stride=2)
        self.stage4_c3k2 = C3k2(c5, c5, n=2, shortcut=True)
        self.sppf = SPPF(c5, c5)

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1_c3k2(self.stage1_down(x))
        x = self.stage2_c3k2(self.stage2_down(x))
        p3 = x
        x = self.stage3_c3k2(self.stage3_down(x))
        p4 = x
        x = self.stage4_c3k2(self.stage4_down(x))
        p5 = self.sppf(x)
        return p3, p4, p5
