"""Hand-written ``torch.nn`` definitions of the catalog networks (torchvision is not a dependency).

They follow the published architectures layer for layer (torchvision's definitions where one exists) and are
used only to derive the shipped catalogs by tracing (:mod:`looplab.workloads.build_catalogs`); weights are never
trained or loaded. Build them on the meta device to keep tracing free: ``with torch.device("meta"): net = ...``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ---- ResNet-50 / ResNeXt50-32x4d (torchvision's v1.5: stride on the 3x3 conv) --------------------------------


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = None
        if stride != 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * self.expansion, 1, stride=stride,
                                                      bias=False), nn.BatchNorm2d(planes * self.expansion))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), groups: int = 1, width_per_group: int = 64, num_classes: int = 1000,
                 features_only: bool = False):
        super().__init__()
        self.groups, self.base_width, self.inplanes = groups, width_per_group, 64
        self.features_only = features_only
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        mods = [Bottleneck(self.inplanes, planes, stride, self.groups, self.base_width)]
        self.inplanes = planes * Bottleneck.expansion
        mods += [Bottleneck(self.inplanes, planes, 1, self.groups, self.base_width) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def stages(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return c3, c4, c5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, c5 = self.stages(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(c5, 1), 1))


def resnet50() -> ResNet:
    return ResNet((3, 4, 6, 3))


def resnext50_32x4d() -> ResNet:
    return ResNet((3, 4, 6, 3), groups=32, width_per_group=4)


# ---- VGG-16 (configuration D) and AlexNet (torchvision's single-tower variant) -------------------------------


class VGG16(nn.Module):
    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        mods: list[nn.Module] = []
        c = 3
        for v in self.CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*mods)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Linear(4096, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---- U-Net (Ronneberger et al. 2015: 572x572 input, unpadded 3x3 convs, 2x2 up-convs, cropped skips) ---------


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3), nn.ReLU(True), nn.Conv2d(cout, cout, 3), nn.ReLU(True))


def _center_crop(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    dh = (x.shape[2] - ref.shape[2]) // 2
    dw = (x.shape[3] - ref.shape[3]) // 2
    return x[:, :, dh:dh + ref.shape[2], dw:dw + ref.shape[3]]


class UNet(nn.Module):
    def __init__(self, in_ch: int = 1, n_classes: int = 2, widths=(64, 128, 256, 512, 1024)):
        super().__init__()
        self.down = nn.ModuleList()
        c = in_ch
        for w in widths:
            self.down.append(_DoubleConv(c, w))
            c = w
        self.upconv = nn.ModuleList()
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.upconv.append(nn.ConvTranspose2d(c, w, 2, stride=2))
            self.up.append(_DoubleConv(2 * w, w))
            c = w
        self.head = nn.Conv2d(c, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(skips), strict=True):
            x = upconv(x)
            x = block(torch.cat([_center_crop(skip, x), x], dim=1))
        return self.head(x)


# ---- BERT-base encoder (12 layers, hidden 768, 12 heads, FFN 3072; matmuls only) ------------------------------


class BertLayer(nn.Module):
    def __init__(self, hidden: int = 768, heads: int = 12, ffn: int = 3072):
        super().__init__()
        self.heads, self.dh = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.ln2 = nn.LayerNorm(hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.heads, self.dh).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / (self.dh ** 0.5)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        ctx = ctx.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.heads * self.dh)
        x = self.ln1(x + self.attn_out(ctx))
        return self.ln2(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class BertEncoder(nn.Module):
    def __init__(self, layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072):
        super().__init__()
        self.layers = nn.ModuleList(BertLayer(hidden, heads, ffn) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, tokens, hidden] embeddings
        for layer in self.layers:
            x = layer(x)
        return x


# ---- RetinaNet (Lin et al. 2017): ResNet-50 + FPN P3-P7 + class/box subnets shared over levels ---------------


class RetinaNet(nn.Module):
    def __init__(self, num_classes: int = 80, anchors: int = 9, fpn: int = 256):
        super().__init__()
        self.backbone = ResNet((3, 4, 6, 3))
        self.lateral3 = nn.Conv2d(512, fpn, 1)
        self.lateral4 = nn.Conv2d(1024, fpn, 1)
        self.lateral5 = nn.Conv2d(2048, fpn, 1)
        self.out3 = nn.Conv2d(fpn, fpn, 3, padding=1)
        self.out4 = nn.Conv2d(fpn, fpn, 3, padding=1)
        self.out5 = nn.Conv2d(fpn, fpn, 3, padding=1)
        self.p6 = nn.Conv2d(2048, fpn, 3, stride=2, padding=1)  # on C5, as in the paper
        self.p7 = nn.Conv2d(fpn, fpn, 3, stride=2, padding=1)
        self.cls_tower = nn.Sequential(*[m for _ in range(4) for m in (nn.Conv2d(fpn, fpn, 3, padding=1),
                                                                       nn.ReLU(True))])
        self.cls_out = nn.Conv2d(fpn, anchors * num_classes, 3, padding=1)
        self.box_tower = nn.Sequential(*[m for _ in range(4) for m in (nn.Conv2d(fpn, fpn, 3, padding=1),
                                                                       nn.ReLU(True))])
        self.box_out = nn.Conv2d(fpn, anchors * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c3, c4, c5 = self.backbone.stages(x)
        m5 = self.lateral5(c5)
        m4 = self.lateral4(c4) + F.interpolate(m5, scale_factor=2.0, mode="nearest")
        m3 = self.lateral3(c3) + F.interpolate(m4, scale_factor=2.0, mode="nearest")
        p6 = self.p6(c5)
        p7 = self.p7(F.relu(p6))
        outs = []
        for p in (self.out3(m3), self.out4(m4), self.out5(m5), p6, p7):
            outs += [self.cls_out(self.cls_tower(p)), self.box_out(self.box_tower(p))]
        return outs
