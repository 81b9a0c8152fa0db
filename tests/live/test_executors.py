"""VSF and PMC executors on the simulated robot: each symbol's mapping to motion, refusals, stop, and recovery of the
built-in policy's injected failures with the dataset's ground-truth corrections (and no recovery with wrong ones)."""

from __future__ import annotations

import numpy as np
import pytest

from vifailback_demo.core.commands import command_variants, parse_command
from vifailback_demo.core.symbols import (
    Crosshair,
    DualCrosshair,
    GripperState,
    Lock,
    Rewind,
    RotatingArrow,
    StraightArrow,
    symbols_to_normalized,
    to_normalized,
)
from vifailback_demo.live.base import Correction, ExecutionContext
from vifailback_demo.live.executors import CorrectionRefusedError, PMCExecutor, VSFExecutor, make_executor
from vifailback_demo.live.geometry import CameraCalibration
from vifailback_demo.live.pmc_targets import ArmLayout, plan_correction
from vifailback_demo.policy.observation import policy_observation
from vifailback_demo.policy.sim_policy import SimPolicy
from vifailback_demo.robot.sim_robot import SimRobot
from vifailback_demo.sim.groundtruth import compute
from vifailback_demo.sim.guidance import arrow
from vifailback_demo.sim.rollout import rollout
from vifailback_demo.sim.world import LEFT, MAX_GAP, RIGHT

W, H = 160, 120
ROWS = 25
TASK = "place_block_in_bowl"


@pytest.fixture
def robot():
    with SimRobot(task=TASK, seed=6, width=W, height=H) as r:
        yield r


def norm(robot: SimRobot, symbol):
    return to_normalized(symbol, robot.width, robot.height)


def pixel(robot: SimRobot, point) -> tuple[float, float]:
    return robot.camera_model.project_point(np.asarray(point, dtype=float))


def context(robot: SimRobot, policy=None, *, stop=lambda: False, history=None, steps=None) -> ExecutionContext:
    state = robot.state_vector(robot.get_observation())
    return ExecutionContext(
        robot=robot,
        policy=policy,
        task_prompt=robot.instruction,
        rows_per_chunk=ROWS,
        should_stop=stop,
        pose_history=history if history is not None else {robot.frame: state},
        frame_steps=steps if steps is not None else [robot.frame],
    )


def correction(robot: SimRobot, low_level: str, symbols, executor: str = "pmc") -> Correction:
    return Correction(low_level, [norm(robot, s) for s in symbols], 1, robot.image.copy(), executor=executor)


def run_pmc(robot: SimRobot, low_level: str, symbols, **kw) -> tuple[np.ndarray, np.ndarray]:
    before = robot.world_state.arms.copy()
    c = correction(robot, low_level, symbols)
    ex = PMCExecutor(**kw)
    ex.check(robot, c)
    report = ex.execute(context(robot), c)
    assert report.executor == "pmc" and report.steps > 0 and not report.detail["stopped"]
    return before, robot.world_state.arms.copy()


def tip_arrow(robot: SimRobot, arm: int, delta, colors) -> StraightArrow:
    """The dataset's arrow (sim/guidance.py) for moving ``arm`` by ``delta``."""
    tip = robot.world_state.arms[arm, :3]
    return arrow(robot.camera_model, tip, np.asarray(delta, dtype=float), list(colors))


# ---- straight arrows ---------------------------------------------------------------------------------------------
CASES = [
    (0, 1, "red", "forward"),
    (0, -1, "red", "backward"),
    (1, 1, "green", "to the left"),
    (1, -1, "green", "to the right"),
    (2, 1, "blue", "upward"),
    (2, -1, "blue", "downward"),
]


@pytest.mark.parametrize(("axis", "sign", "color", "word"), CASES)
def test_arrow_moves_along_its_colour_axis_by_the_command_magnitude(robot, axis, sign, color, word) -> None:
    delta = np.zeros(3)
    delta[axis] = sign * 0.06
    before, after = run_pmc(
        robot, f"Move the right gripper {word} significantly.", [tip_arrow(robot, RIGHT, delta, [color])]
    )
    expected = before[RIGHT].copy()
    expected[axis] += sign * 0.08  # "significantly" = 8 cm, whatever the arrow's drawn length
    assert np.allclose(after[RIGHT], expected, atol=1e-6)
    assert np.allclose(after[LEFT], before[LEFT])


@pytest.mark.parametrize(("axis", "sign", "color", "word"), CASES)
def test_arrow_alone_gives_sign_and_metric_length(robot, axis, sign, color, word) -> None:
    """No command: the sign from the arrow against the axis projected at the gripper, the length lifted to metres,
    the arm nearest the arrow's start."""
    delta = np.zeros(3)
    delta[axis] = sign * 0.07
    before, after = run_pmc(robot, "", [tip_arrow(robot, RIGHT, delta, [color])])
    moved = after[RIGHT, :3] - before[RIGHT, :3]
    assert moved[axis] * sign > 0.05 and abs(moved[axis]) < 0.09, moved
    assert np.allclose(np.delete(moved, axis), 0.0, atol=1e-9)
    assert np.allclose(after[LEFT], before[LEFT])


def test_two_colour_arrow_signs_and_the_left_arm(robot) -> None:
    delta = np.array([0.0, 0.06, -0.06])  # left and down: separable directions in the image (2x2 solve)
    sym = tip_arrow(robot, LEFT, delta, ["green", "blue"])
    before, after = run_pmc(robot, "", [sym])
    moved = after[LEFT, :3] - before[LEFT, :3]
    assert moved[1] > 0.03 and moved[2] < -0.03 and abs(moved[0]) < 1e-9
    assert np.allclose(after[RIGHT], before[RIGHT])


def test_arrow_against_the_command_and_other_inconsistencies_are_refused(robot) -> None:
    ex = PMCExecutor()
    left = tip_arrow(robot, RIGHT, [0, 0.06, 0], ["green"])  # image-left at the gripper: robot +y
    with pytest.raises(CorrectionRefusedError, match="points left in the image but the command says right"):
        ex.check(robot, correction(robot, "Move the right gripper to the right significantly.", [left]))
    with pytest.raises(CorrectionRefusedError, match="moves along z but no arrow"):
        ex.check(robot, correction(robot, "Move the right gripper to the left and upward slightly.", [left]))
    twice = tip_arrow(robot, RIGHT, [0, 0.03, 0], ["green"])
    with pytest.raises(CorrectionRefusedError, match="same axis"):
        ex.check(robot, correction(robot, "", [left, twice]))
    three = tip_arrow(robot, RIGHT, [0.04, 0.04, 0.04], ["red", "green", "blue"])
    with pytest.raises(CorrectionRefusedError, match="cannot tell"):
        ex.check(robot, correction(robot, "", [three]))
    with pytest.raises(CorrectionRefusedError, match="nothing to execute"):
        ex.check(robot, correction(robot, "", []))
    cross = Crosshair(tuple(round(c) for c in pixel(robot, [0.4, -0.1, 0.03])))
    dual = DualCrosshair(cross.pos, (cross.pos[0] + 10, cross.pos[1]))
    with pytest.raises(CorrectionRefusedError, match="one target"):
        ex.check(robot, correction(robot, "", [cross, dual]))
    with pytest.raises(CorrectionRefusedError, match="contradicts itself"):
        ex.check(robot, correction(robot, "Open the right gripper.", [GripperState(cross.pos, "OFF")]))
    # a three-colour arrow needs every direction and magnitude in words
    with pytest.raises(CorrectionRefusedError, match="no magnitude for the x move"):
        ex.check(
            robot, correction(robot, "Move the right gripper forward and to the left and upward slightly.", [three])
        )
    ex.check(
        robot, correction(robot, "Move the right gripper forward slightly and left slightly and up slightly.", [three])
    )


def test_plus_y_image_right_camera_flips_the_sign() -> None:
    """The same image arrow means the opposite robot direction for a camera facing the robot (+y image-right)."""
    K = [[100, 0, 80], [0, 100, 60], [0, 0, 1]]
    facing = CameraCalibration.from_pose(K, np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], float), [0.3, 0, 1.0], W, H)
    usual = CameraCalibration.from_pose(K, np.array([[0, -1, 0], [-1, 0, 0], [0, 0, -1]], float), [0.3, 0, 1.0], W, H)
    layout = ArmLayout.of(["right.x", "right.y", "right.z", "right.yaw", "right.gap"])
    state = np.array([0.3, 0.0, 0.1, 0.0, 0.08])
    for cal, expected in ((usual, 1), (facing, -1)):
        u, v = cal.project(state[:3])
        sym = StraightArrow((u, v), (u - 30, v), ("green",))  # drawn toward image-left
        c = Correction("", [to_normalized(sym, W, H, as_int=False)], 1, np.zeros((H, W, 3), np.uint8))
        plan = plan_correction(c, cal, layout, state, state)
        dy = plan.waypoints[0].pose[1] - state[1]
        assert np.sign(dy) == expected
        assert abs(dy) == pytest.approx(0.27, rel=0.02)  # 30 px at 0.9 m depth with f = 100 px


# ---- rotation, gripper, targets ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("direction", "change"), [("counter-clockwise", 0.5), ("clockwise", -0.5)])
def test_rotating_arrow_turns_yaw(robot, direction, change) -> None:
    center = tuple(round(c) for c in pixel(robot, robot.world_state.arms[RIGHT, :3] + np.array([0.0, 0.0, 0.06])))
    before, after = run_pmc(robot, "", [RotatingArrow(center, direction)])
    assert after[RIGHT, 3] - before[RIGHT, 3] == pytest.approx(change, abs=1e-6)
    assert np.allclose(after[RIGHT, :3], before[RIGHT, :3]) and np.allclose(after[LEFT], before[LEFT])
    with pytest.raises(CorrectionRefusedError, match="rotation direction"):
        other = "clockwise" if direction != "clockwise" else "counter-clockwise"
        PMCExecutor().check(
            robot, correction(robot, f"Rotate the right gripper {other}.", [RotatingArrow(center, direction)])
        )


def test_on_off_changes_the_gap(robot) -> None:
    pos = tuple(round(c) for c in pixel(robot, robot.world_state.arms[RIGHT, :3]))
    _, after = run_pmc(robot, "Close the right gripper.", [GripperState(pos, "OFF")])
    assert after[RIGHT, 4] == pytest.approx(0.0)
    _, after = run_pmc(robot, "", [GripperState(pos, "ON")])
    assert after[RIGHT, 4] == pytest.approx(MAX_GAP)


def test_crosshair_goes_above_the_lifted_point(robot) -> None:
    mark = np.array([0.42, -0.12, 0.03])  # a point marked on an object 3 cm above the table
    before, after = run_pmc(robot, "", [Crosshair(pixel(robot, mark))])
    assert np.allclose(after[RIGHT, :3], mark + np.array([0.0, 0.0, 0.09]), atol=0.004)  # hover_m above it
    assert np.allclose(after[LEFT], before[LEFT])


def test_dual_crosshair_carries_by_the_displacement(robot) -> None:
    p1, p2 = np.array([0.35, -0.15, 0.03]), np.array([0.45, -0.05, 0.03])
    before, after = run_pmc(robot, "", [DualCrosshair(pixel(robot, p1), pixel(robot, p2))])
    assert np.allclose(after[RIGHT, :3] - before[RIGHT, :3], [0.1, 0.1, 0.0], atol=0.004)


def test_rewind_returns_to_the_keyframe_pose_and_lock_holds(robot) -> None:
    key_step = robot.frame
    history = {key_step: robot.state_vector(robot.get_observation())}
    moved = robot.world_state.arms.copy()
    moved[RIGHT, :3] += [0.06, 0.05, -0.04]
    moved[RIGHT, 3] += 0.3
    for _ in range(10):
        robot.send_action(moved.reshape(-1))
    history[robot.frame] = robot.state_vector(robot.get_observation())
    left_tip = tuple(round(c) for c in pixel(robot, robot.world_state.arms[LEFT, :3]))
    right_tip = tuple(round(c) for c in pixel(robot, robot.world_state.arms[RIGHT, :3]))
    c = correction(robot, "", [Rewind(right_tip), Lock(left_tip)])
    before = robot.world_state.arms.copy()
    report = PMCExecutor().execute(context(robot, history=history, steps=[key_step, robot.frame]), c)
    assert report.detail["locked"] == ["left"] and report.detail["arm"] == "right"
    assert np.allclose(robot.world_state.arms[RIGHT], history[key_step][5:], atol=1e-6)
    assert np.allclose(robot.world_state.arms[LEFT], before[LEFT])
    with pytest.raises(CorrectionRefusedError, match="both moves and locks"):
        PMCExecutor().check(robot, correction(robot, "", [Rewind(right_tip), Lock(right_tip)]))


def test_should_stop_interrupts(robot) -> None:
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    before = robot.world_state.arms.copy()
    c = correction(
        robot, "Move the right gripper forward significantly.", [tip_arrow(robot, RIGHT, [0.06, 0, 0], ["red"])]
    )
    report = PMCExecutor().execute(context(robot, stop=stop), c)
    assert report.detail["stopped"] and report.steps == 3
    assert 0 < robot.world_state.arms[RIGHT, 0] - before[RIGHT, 0] < 0.06


def test_single_arm_layout_without_yaw() -> None:
    K = [[100, 0, 80], [0, 100, 60], [0, 0, 1]]
    cal = CameraCalibration.from_pose(K, np.array([[0, -1, 0], [-1, 0, 0], [0, 0, -1]], float), [0.3, 0, 1.0], W, H)
    layout = ArmLayout.of(["x", "y", "z", "gap", "wrist_temp"])
    state = np.array([0.3, 0.0, 0.1, 0.05, 20.0])
    image = np.zeros((H, W, 3), np.uint8)
    plan = plan_correction(Correction("Close the right gripper.", [], 1, image), cal, layout, state, state)
    assert plan.arm == "" and plan.waypoints[-1].pose[3] != plan.waypoints[-1].pose[3]  # NaN: no yaw field
    assert plan.waypoints[-1].pose[4] == 0.0
    with pytest.raises(CorrectionRefusedError, match="no yaw"):
        plan_correction(Correction("Rotate the right gripper clockwise.", [], 1, image), cal, layout, state, state)
    with pytest.raises(CorrectionRefusedError, match=r"<arm>\.x"):
        ArmLayout.of(["shoulder", "elbow", "wrist"])


def test_pmc_refuses_a_joint_robot_and_missing_calibration(tmp_path) -> None:
    class JointSim(SimRobot):
        action_space = "joint"

    class NoCamera(SimRobot):
        camera_model = None  # type: ignore[assignment]

    with JointSim(task=TASK, seed=6, width=W, height=H) as joint:
        c = correction(joint, "Close the right gripper.", [])
        with pytest.raises(CorrectionRefusedError, match="'joint' actions: use VSF"):
            PMCExecutor().check(joint, c)
    with NoCamera(task=TASK, seed=6, width=W, height=H) as blind:
        with pytest.raises(CorrectionRefusedError, match="calibration"):
            PMCExecutor().check(blind, correction(blind, "Close the right gripper.", []))
        cal = CameraCalibration.from_sim(SimRobot(task=TASK, seed=6, width=W, height=H).camera_model)
        PMCExecutor(calibration=cal).check(blind, correction(blind, "Close the right gripper.", []))
        cal.save(tmp_path / "head.json")
        make_executor("pmc", calibration=str(tmp_path / "head.json")).check(
            blind, correction(blind, "Close the right gripper.", [])
        )
    with pytest.raises(CorrectionRefusedError, match="unknown executor"):
        make_executor("teleport")


# ---- VSF ---------------------------------------------------------------------------------------------------------
class Recorder:
    def __init__(self, policy) -> None:
        self.policy, self.observations = policy, []

    def infer(self, observation):
        self.observations.append(observation)
        return self.policy.infer(observation)


def test_vsf_sends_the_drawn_keyframe_and_the_command_for_n_chunks(robot) -> None:
    raw = robot.image.copy()
    sym = tip_arrow(robot, RIGHT, [0, 0.06, 0], ["green"])
    c = correction(robot, "Move the right gripper to the left significantly.", [sym], "vsf")
    policy = Recorder(SimPolicy())
    ex = VSFExecutor(chunks=2)
    ex.check(robot, c)
    before = robot.world_state.arms.copy()
    report = ex.execute(context(robot, policy), c)
    assert report.steps == 2 * ROWS and report.detail["chunks"] == 2 and len(policy.observations) == 2
    drawn = ex.drawn_keyframe(c)
    for obs in policy.observations:
        assert obs["prompt"] == c.low_level
        image = obs["images"]["cam_high"]
        assert np.array_equal(image, drawn)
        s = np.round(sym.start).astype(int)
        assert (
            np.abs(
                image[s[1] - 2 : s[1] + 3, s[0] - 2 : s[0] + 3].astype(int)
                - raw[s[1] - 2 : s[1] + 3, s[0] - 2 : s[0] + 3]
            ).sum()
            > 0
        )
    assert not np.array_equal(policy.observations[0]["images"]["cam_high"], raw)
    # the built-in policy followed the command: 8 cm to the left
    assert robot.world_state.arms[RIGHT, 1] - before[RIGHT, 1] == pytest.approx(0.08, abs=1e-6)
    # stop wins between actions
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    report = VSFExecutor(chunks=3).execute(context(robot, Recorder(SimPolicy()), stop=stop), c)
    assert report.detail["stopped"] and report.steps == 4
    with pytest.raises(CorrectionRefusedError, match="needs a low-level command"):
        VSFExecutor().check(robot, correction(robot, " ", [sym], "vsf"))


def test_vsf_resizes_a_keyframe_of_another_size(robot) -> None:
    big = np.zeros((2 * H, 2 * W, 3), np.uint8)
    c = Correction("Close the right gripper.", [Crosshair((500, 500))], 1, big, executor="vsf")
    policy = Recorder(SimPolicy())
    VSFExecutor(chunks=1).execute(context(robot, policy), c)
    assert policy.observations[0]["images"]["cam_high"].shape == (H, W, 3)


# ---- recovery of the built-in policy's injected failures ---------------------------------------------------------
def ask(robot, policy, prompt, rows, history):
    reply = policy.infer(policy_observation(robot, robot.get_observation(), prompt))
    for i in range(rows):
        robot.send_chunk_step(reply, i)
        history[robot.frame] = robot.state_vector(robot.get_observation())
    return reply


def failed_episode(variant: str, task: str = "stack_blocks", seed: int = 4):
    """Robot at the failure's correct keyframe, the policy, the dataset's ground-truth correction (normalised)."""
    policy = SimPolicy(failure_rate=1.0, variants=[variant])
    robot = SimRobot(task=task, seed=seed, width=W, height=H)
    robot.connect()
    task_obj, script = policy._scene(robot.task_id, robot.seed)
    history = {0: robot.state_vector(robot.get_observation())}
    while robot.frame < script.correct_frame:
        ask(robot, policy, robot.instruction, min(ROWS, script.correct_frame - robot.frame), history)
    truth = compute(task_obj, script.injection, rollout(task_obj, script.injection.plan), robot.camera_model)
    symbols = symbols_to_normalized(truth.correction.symbols, W, H)
    return robot, policy, history, truth.correction.low_level, symbols


def finish(robot, policy, history, frames: int = 400):
    reply = None
    end = robot.frame + frames
    while robot.frame < end and not robot.success:
        reply = ask(robot, policy, robot.instruction, ROWS, history)
    return robot.success, reply


@pytest.mark.parametrize(("variant", "executor"), [("offset_x", "pmc"), ("no_close", "pmc"), ("no_close", "vsf")])
def test_ground_truth_correction_recovers(variant: str, executor: str) -> None:
    robot, policy, history, low, symbols = failed_episode(variant)
    with robot:
        c = Correction(low, symbols, 1, robot.image.copy(), executor=executor)
        ex = make_executor(executor)
        ex.check(robot, c)
        ex.execute(context(robot, policy, history=history, steps=[robot.frame]), c)
        ok, reply = finish(robot, policy, history)
        assert ok, f"{variant} via {executor}: {reply['sim/failure']}"
        assert reply["sim/failure"]["corrected_by"] == ("external" if executor == "pmc" else "command")


def mirrored(robot, low: str, symbols):
    """The correction with its first move flipped: the command word and the arrow (mirrored about its start)."""
    wrong = command_variants(parse_command(low))[0].format()
    out = []
    for s in symbols:
        if isinstance(s, StraightArrow):
            s = StraightArrow(s.start, (2 * s.start[0] - s.end[0], 2 * s.start[1] - s.end[1]), s.colors)
        out.append(s)
    return wrong, out


def test_wrong_pmc_correction_keeps_failing() -> None:
    robot, policy, history, low, symbols = failed_episode("offset_x")
    with robot:
        wrong, syms = mirrored(robot, low, symbols)
        c = Correction(wrong, syms, 1, robot.image.copy())
        PMCExecutor().execute(context(robot, policy, history=history, steps=[robot.frame]), c)
        ok, reply = finish(robot, policy, history, 250)
        assert not ok and reply["sim/mode"] == "failing" and reply["sim/failure"]["corrected"] is False
        assert reply["sim/failure"]["external"] is not None  # the displacement was seen and judged wrong


def test_pause_and_hand_moves_are_not_mistaken_for_corrections() -> None:
    """Time passing at a held pose, or a partly executed chunk, is the policy's own motion: still failing."""
    robot, policy, history, _, _ = failed_episode("no_close")
    with robot:
        reply = ask(robot, policy, robot.instruction, 7, history)  # 7 of 50 rows, then a hold
        robot.tick(30)
        reply = ask(robot, policy, robot.instruction, ROWS, history)
        assert reply["sim/mode"] == "failing" and reply["sim/failure"]["external"] is None
        # a push the wrong way (up and away) is judged and rejected
        arms = robot.world_state.arms.copy()
        arms[0 if robot.task.stages[0].arm == LEFT else 1, 2] += 0.08
        for _ in range(6):
            robot.send_action(arms.reshape(-1))
        reply = ask(robot, policy, robot.instruction, ROWS, history)
        assert reply["sim/mode"] == "failing" and "upward" in reply["sim/failure"]["external"]
