import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FirstCopies } from "./first-copies.js";

describe("FirstCopies", () => {
  test("the first of three copies passes, the two later ones do not, and then the message is forgotten", () => {
    const copies = new FirstCopies(3);
    assert.equal(copies.first("a"), true);
    assert.equal(copies.first("b"), true);
    assert.equal(copies.first("a"), false);
    assert.equal(copies.first("b"), false);
    assert.equal(copies.first("a"), false);
    assert.equal(copies.size, 1, "a is forgotten after its last copy; b still awaits one");
    assert.equal(copies.first("b"), false);
    assert.equal(copies.size, 0);
    assert.equal(copies.first("a"), true, "the same text again is a new message");
  });

  test("the same message sent twice gets through twice, however its copies interleave", () => {
    const copies = new FirstCopies(3);
    const passed = ["m", "m", "m", "m", "m", "m"].filter((key) => copies.first(key)).length;
    assert.equal(passed, 2);
  });

  test("one connection: everything passes and nothing is remembered", () => {
    const copies = new FirstCopies(1);
    assert.equal(copies.first("a"), true);
    assert.equal(copies.first("a"), true);
    assert.equal(copies.size, 0);
  });

  test("memory is bounded: beyond max the oldest is forgotten, and its late copy passes (twice, never dropped)", () => {
    const copies = new FirstCopies(2, 3);
    for (const key of ["a", "b", "c", "d"]) assert.equal(copies.first(key), true);
    assert.equal(copies.size, 3);
    assert.equal(copies.first("a"), true, "a was forgotten: its late copy passes");
    assert.equal(copies.first("c"), false, "c is still remembered");
  });

  test("refuses a count that is not a positive integer", () => {
    assert.throws(() => new FirstCopies(0), RangeError);
    assert.throws(() => new FirstCopies(2, 0), RangeError);
  });
});
