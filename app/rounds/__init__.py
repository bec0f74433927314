"""Review rounds (审查轮次): conclusions and opinion letters, answers and resubmission, matching, compare, carry-over.

- :mod:`app.rounds.conclude`: the track lead issues the track's comments and concludes the round for the track
  (通过 / 需修改); once every track has concluded, the submission moves on (:func:`app.submissions.conclude_round`);
- :mod:`app.rounds.letters`: the opinion letters (审查意见书) per track and the joint one, built by a worker
  (:mod:`review.letters`) and kept in the object store;
- :mod:`app.rounds.answers`: the designer's answers and the resubmission of revised sheets into the next round;
- :mod:`app.rounds.matching`: which sheet of the new round continues which sheet of the previous one
  (by normalised number, then by content), sheets not resubmitted carried forward, the clerk's corrections;
- :mod:`app.rounds.compare`: change regions of every resubmitted sheet and the overlay image, then carry-over
  of the open comments and their markups (区域已修改 where a change meets a markup).

Carry-over writes new rows: a comment still open at the end of round N becomes a comment of round N+1 with
``carried_from_id`` naming it and its thread copied, and its markups are copied onto the new revision with
``carried_from_id``. Round N's comments stay as they were issued, so its letters and history never change.
"""
