#!/usr/bin/env python3
"""Tests of bench/cpu_race.py's arithmetic and report on made-up rounds (no side is run):
ctest cpu_race_report. The benchmark's own numbers cannot be tested; what it computes from them
can."""
import argparse
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_race  # noqa: E402


def made_up_rounds():
    kiln = [{"forward": 200, "train_step": 50, "train_step_frozen_base": 240},
            {"forward": 180, "train_step": 60, "train_step_frozen_base": 250},
            {"forward": 260, "train_step": 55, "train_step_frozen_base": 230}]
    torch = [{"forward": 150, "train_step": 40, "train_step_frozen_base": 150},
             {"forward": 170, "train_step": 45, "train_step_frozen_base": 210},
             {"forward": 160, "train_step": 44, "train_step_frozen_base": 190}]
    keras = [{"forward": 240, "train_step": 20}, {"forward": 230, "train_step": 22},
             {"forward": 250, "train_step": 21}]  # its frozen row failed in every round
    return [{"Kiln": k, "PyTorch 2.15 (PyPI)": t, "Keras 3.15 / TF 2.21": e}
            for k, t, e in zip(kiln, torch, keras)]


class CpuRaceTest(unittest.TestCase):
    def test_vgg16_flops_match_the_geometry(self):
        f = cpu_race.vgg16_flops()
        by_hand = 2 * 9 * (3 * 64 * 1024 + 64 * 64 * 1024 + 64 * 128 * 256 + 128 * 128 * 256 +
                           128 * 256 * 64 + 2 * 256 * 256 * 64 + 256 * 512 * 16 +
                           2 * 512 * 512 * 16 + 3 * 512 * 512 * 4)
        self.assertEqual(f["forward"], by_hand)
        head = 2 * (512 * 256 + 256 * 10)
        self.assertEqual(f["train_step"], 3 * (by_hand + head) - 2 * 9 * 3 * 64 * 1024)
        self.assertEqual(f["train_step_frozen_base"], by_hand + 3 * head)

    def test_round_order_changes_who_runs_first_and_who_runs_before_whom(self):
        sides = ["Kiln", "A", "B", "C"]
        orders = [cpu_race.round_order(sides, i) for i in range(4)]
        for order in orders:
            self.assertEqual(sorted(order), sorted(sides))
        self.assertGreater(len({o[0] for o in orders}), 2)
        before_kiln = {o[o.index("Kiln") - 1] for o in orders if o.index("Kiln") > 0}
        self.assertGreater(len(before_kiln), 1)

    def test_report_takes_medians_over_rounds_and_the_fastest_peer(self):
        args = argparse.Namespace(threads=2, rounds=3, reps=5)
        peers = [{"name": "PyTorch 2.15 (PyPI)"}, {"name": "Keras 3.15 / TF 2.21"}]
        gemm = {"PyTorch 2.15 (PyPI)": [150.0, 140.0, 160.0]}
        text = cpu_race.report(args, peers, ["/usr/bin/python3: not installed"], made_up_rounds(),
                               gemm, [], "")
        # forward: Kiln median 200 (180-260), fastest peer Keras 240: 0.83x, short.
        self.assertIn("| base forward | 200.0 (180-260) | 160.0 (150-170) | 240.0 (230-250) | "
                      "Keras 3.15 / TF 2.21 | **0.83x** |", text)
        # full step: Kiln 55 against PyTorch 44: 1.25x, met.
        self.assertIn("| PyTorch 2.15 (PyPI) | **1.25x** |", text)
        self.assertIn("- training step, all trainable: 1.25x PyTorch 2.15 (PyPI): met.", text)
        # frozen: Keras has no value, so PyTorch's 190 is the fastest: 240 / 190 = 1.26x.
        self.assertIn("| training step, base frozen | 240.0 (230-250) | 190.0 (150-210) | n/a | "
                      "PyTorch 2.15 (PyPI) | **1.26x** |", text)
        self.assertIn("- base forward: 0.83x Keras 3.15 / TF 2.21: short, Kiln would need 44% "
                      "more.", text)
        # Ceiling: median 150 GFLOP/s; Kiln's forward 200 img/s * 0.626 GFLOP = 125 = 84%.
        self.assertIn("Fractions below are of 150 GFLOP/s.", text)
        self.assertIn("| base forward | 125 GFLOP/s = 84% |", text)
        self.assertIn("Peer not run: /usr/bin/python3: not installed.", text)

    def test_kiln_direct_is_a_column_but_never_the_fastest_peer(self):
        args = argparse.Namespace(threads=2, rounds=3, reps=5)
        peers = [{"name": "PyTorch 2.15 (PyPI)"}]
        rounds = made_up_rounds()
        for r, v in zip(rounds, (500, 510, 490)):  # faster than Kiln: must not count as a peer
            r[cpu_race.KILN_DIRECT] = {"forward": v, "train_step": 1, "train_step_frozen_base": 1}
        text = cpu_race.report(args, peers, [], rounds, {"PyTorch 2.15 (PyPI)": [150.0]}, [], "",
                               kiln_direct=True)
        # forward: Kiln 200 against PyTorch's 160: 1.25x; the direct column's 500 is shown only.
        self.assertIn("| base forward | 200.0 (180-260) | 500.0 (490-510) | 160.0 (150-170) | "
                      "PyTorch 2.15 (PyPI) | **1.25x** |", text)
        self.assertIn("Winograd", text)


if __name__ == "__main__":
    unittest.main()
