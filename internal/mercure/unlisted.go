package mercure

// Unlisted are the selectors of the herd topics Mercure's updates and ids
// live on: herd serve has the hub's /topics name them only to trusted
// callers, since a Mercure topic, its ids and its subscribers can be
// private (Mercure's own hub names none of them to anyone).
var Unlisted = []string{topicPrefix + "**", idPrefix + "**"}
